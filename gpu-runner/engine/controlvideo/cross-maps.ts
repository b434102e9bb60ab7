/**
 * The `auto` object mask of ControlVideo's object-centric sampling [ours]: the UNet's cross-attention to the object
 * words at an early step. Self-attention is fully cross-frame and has no per-frame maps, so only cross-attention
 * is recorded, and only at the coarsest attention level of the down and up paths (16x16 at 512 px), where
 * FateZero's blend mask reads it too: maps stay small.
 */
import type { GraphBuilder, ValueRef } from '../../graph/builder.ts';
import type { AttentionHooks, AttentionSite } from '../../models/unet/hooks.ts';
import { type CrossMap, resizeNearest, wordAttention } from '../fusion/blend-mask.ts';
import type { IntTensor, Tensor } from '../model.ts';
import { attentionSaliency } from '../ocs.ts';

/** A recorded cross-attention layer: where its map is and how it is laid out. */
export interface RecordedCrossSite {
  readonly name: string;
  readonly heads: number;
  readonly height: number;
  readonly width: number;
  readonly keys: number;
}

/** The graph output carrying a site's cross-attention probabilities [2F, heads, h·w, 77]. */
export function crossMapOutputName(site: string): string {
  return `${site}.probs`;
}

/**
 * Hooks that output the cross-attention probabilities of the down/up layers at `level`; each recorded site is
 * appended to `sites` while the graph is built.
 */
export function crossMapHooks(level: number, sites: RecordedCrossSite[]): AttentionHooks {
  const wanted = (site: AttentionSite) => site.kind === 'cross' && site.level === level && !site.name.startsWith('mid_block');
  return {
    wantsProbabilities: wanted,
    onProbabilities(g: GraphBuilder, site: AttentionSite, probs: ValueRef): ValueRef {
      g.output(probs, crossMapOutputName(site.name), 'float32');
      sites.push({ name: site.name, heads: site.heads, height: site.height, width: site.width, keys: site.keyTokens });
      return probs;
    },
  };
}

/**
 * The object mask at latent resolution [F, h, w] from one guided call's outputs: the conditional half's attention to
 * `tokens`, summed over the recorded layers, upsampled, range-normalized per frame, thresholded and dilated.
 * Null when nothing was recorded or no token is given.
 */
export function objectMask(outputs: Record<string, Tensor | IntTensor>, sites: readonly RecordedCrossSite[], tokens: readonly number[], grid: { frames: number; height: number; width: number }, thresholdLevel: number, dilation: number): Float32Array | null {
  if (tokens.length === 0 || sites.length === 0) return null;
  const F = grid.frames;
  const maps: CrossMap[] = sites.map((site) => {
    const out = outputs[crossMapOutputName(site.name)];
    if (!out || !('data' in out)) throw new Error(`the probe graph returned no map '${crossMapOutputName(site.name)}'`);
    const per = site.heads * site.height * site.width * site.keys;
    // the batch is [uncond x F, cond x F]: the object words live in the conditional prompt
    return { data: out.data.subarray(F * per, 2 * F * per), frames: F, heads: site.heads, height: site.height, width: site.width, keys: site.keys };
  });
  const attention = wordAttention(maps, tokens);
  const up = resizeNearest(attention.data, F, attention.height, attention.width, grid.height, grid.width);
  return attentionSaliency(up, F, grid.height, grid.width, thresholdLevel, dilation);
}

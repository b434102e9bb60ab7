/**
 * FateZero attention fusion as UNet attention hooks (method.md §3 steps 3-4, reference-algorithms.md §2.3-2.4).
 *
 * - `recordingHooks` (inversion): every controlled layer (FateZero's rule: query length <= 32² = 1024 per frame,
 *   i.e. every level but the highest at 512 px, every attention layer at 256 px) materialises its
 *   probabilities and exports them as a graph output `attn:<site name>` [F, heads, Q, K].
 * - `fusionHooks` (editing): the same layers take the recorded map as an input `src:<site name>` and fuse it into
 *   the cond half of the batch. One graph serves every step: the per-step choices are inputs.
 *
 * Shared inputs of the editing graph (all float32):
 *   fusion.cond_gate   [G, 1, 1, 1, 1]  1 for the cond group(s), 0 for the uncond group
 *   fusion.cross_gate  [1]              1 while cross-attention fusion is active at this step
 *   fusion.self_gate   [1]              1 while self-attention fusion is active at this step
 *   fusion.mapping     [77, 77]         M: S @ M maps source tokens onto target tokens (Refine or Replace)
 *   fusion.alpha       [77]             1 = aligned token (takes the source map)
 *   fusion.weights     [77]             per-token reweighting
 *   blend:<site name> [F, 1, Q, 1]    per self-attention layer: 1 = keep the edit's own map (blend mask), 0 = take
 *                                     the source's (per layer because merged layers order their rows by their plan)
 *
 * Fused maps, with S the source map and P the edit's own (cond half only):
 *   cross: X = ((S @ M) * alpha + P * (1 - alpha)) * w ;  P' = P + cond * cross_gate * (X - P)
 *   self:  X = S + blend * (P - S)                       ;  P' = P + cond * self_gate  * (X - P)
 */
import type { GraphBuilder, ValueRef } from '../../graph/builder.ts';
import type { AttentionHooks, AttentionSite } from '../../models/unet/hooks.ts';
import { MAX_TOKENS } from './seq-aligner.ts';

/** Input/output names of the fusion graph interface. */
export const FUSION_INPUTS = Object.freeze({
  condGate: 'fusion.cond_gate',
  crossGate: 'fusion.cross_gate',
  selfGate: 'fusion.self_gate',
  mapping: 'fusion.mapping',
  alpha: 'fusion.alpha',
  weights: 'fusion.weights',
});

/** Graph output holding a recorded map. */
export const recordedOutputName = (site: { name: string } | string): string => `attn:${typeof site === 'string' ? site : site.name}`;
/** Graph input taking the stored source map. */
export const sourceInputName = (site: { name: string } | string): string => `src:${typeof site === 'string' ? site : site.name}`;
/** Graph input taking the blend mask of one self-attention layer. */
export const blendInputName = (site: { name: string } | string): string => `blend:${typeof site === 'string' ? site : site.name}`;

/** What a controlled layer looks like from the outside: enough to allocate, store and restrict its maps. */
export type ControlledSite = Omit<AttentionSite, 'channels'>;

/** FateZero stores and fuses the attention layers whose query length is at most 32² (attention_store.py). */
export const MAX_CONTROLLED_QUERY_TOKENS = 32 * 32;

export interface ControlOptions {
  /**
   * Control exactly these layers (by name) instead of applying the query-length rule: a crop graph controls the
   * layers the full-frame inversion recorded, whatever their size in the crop.
   * @default - the layers with height·width <= MAX_CONTROLLED_QUERY_TOKENS
   */
  readonly only?: ReadonlySet<string>;
}

/** Whether a layer is controlled: FateZero's absolute rule on its full (unmerged) query length, or the given set. */
export function isControlled(site: Pick<AttentionSite, 'name' | 'height' | 'width'>, options: ControlOptions = {}): boolean {
  return options.only ? options.only.has(site.name) : site.height * site.width <= MAX_CONTROLLED_QUERY_TOKENS;
}

function describe(site: AttentionSite): ControlledSite {
  const { channels: _channels, ...controlled } = site;
  return controlled;
}

/**
 * Hooks for inversion: record every controlled layer's probabilities as graph outputs.
 * `sites` fills up while the graph is built (in call order).
 */
export function recordingHooks(options: ControlOptions = {}): { hooks: AttentionHooks; sites: ControlledSite[] } {
  const sites: ControlledSite[] = [];
  const hooks: AttentionHooks = {
    wantsProbabilities: (site) => isControlled(site, options),
    onProbabilities(g, site, probs) {
      if (!isControlled(site, options)) return probs;
      sites.push(describe(site));
      g.output(g.identity(probs), recordedOutputName(site), 'float32', [site.frames, site.heads, site.queryTokens, site.keyTokens]);
      return probs;
    },
  };
  return { hooks, sites };
}

function sharedInput(g: GraphBuilder, name: string, shape: (number | string)[]): ValueRef {
  return g.hasInput(name) ? { name } : g.input(name, 'float32', shape);
}

/**
 * Hooks for editing: fuse the stored source maps into the cond half of every controlled layer.
 * `sites` fills up while the graph is built (in call order).
 */
export function fusionHooks(options: ControlOptions = {}): { hooks: AttentionHooks; sites: ControlledSite[] } {
  const sites: ControlledSite[] = [];
  const hooks: AttentionHooks = {
    wantsProbabilities: (site) => isControlled(site, options),
    onProbabilities(g, site, probs) {
      if (!isControlled(site, options)) return probs;
      sites.push(describe(site));
      const F = site.frames, H = site.heads, Q = site.queryTokens, K = site.keyTokens;
      const source = g.input(sourceInputName(site), 'float32', [F, H, Q, K]); // [F, H, Q, K]
      const cond = sharedInput(g, FUSION_INPUTS.condGate, ['groups', 1, 1, 1, 1]); // [G, 1, 1, 1, 1]
      const p = g.reshape(probs, [-1, F, H, Q, K]); // [G, F, H, Q, K]
      let fused: ValueRef;
      let gate: ValueRef;
      if (site.kind === 'cross') {
        const mapping = sharedInput(g, FUSION_INPUTS.mapping, [MAX_TOKENS, MAX_TOKENS]);
        const alpha = sharedInput(g, FUSION_INPUTS.alpha, [MAX_TOKENS]);
        const weights = sharedInput(g, FUSION_INPUTS.weights, [MAX_TOKENS]);
        const mapped = g.matMul(source, mapping); // [F, H, Q, 77]
        // (S @ M) * alpha + P * (1 - alpha) = P + alpha * (S @ M - P)
        const refined = g.add(p, g.mul(alpha, g.sub(mapped, p))); // [G, F, H, Q, 77]
        fused = g.mul(refined, weights); // [G, F, H, Q, 77]
        gate = g.mul(cond, sharedInput(g, FUSION_INPUTS.crossGate, [1])); // [G, 1, 1, 1, 1]
      } else {
        const blend = g.input(blendInputName(site), 'float32', [F, 1, Q, 1]); // [F, 1, Q, 1]
        fused = g.add(source, g.mul(blend, g.sub(p, source))); // [G, F, H, Q, K]
        gate = g.mul(cond, sharedInput(g, FUSION_INPUTS.selfGate, [1])); // [G, 1, 1, 1, 1]
      }
      const out = g.add(p, g.mul(gate, g.sub(fused, p))); // [G, F, H, Q, K]
      return g.reshape(out, [-1, H, Q, K]); // [B, H, Q, K]
    },
  };
  return { hooks, sites };
}

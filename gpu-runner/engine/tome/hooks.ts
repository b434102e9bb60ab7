/**
 * Token merging for one edit run (method.md §6): which levels merge at which ratio, the seeded per-frame
 * destination draws fed to the graph, object-centric saliency, and pairing (the plan inversion computed at t is
 * the plan editing imports at t). The in-graph matching is the model layer's (models/unet/tome.ts).
 */
import type { EditOptions } from '../../../shared/edit-request.ts';
import { type AttentionHooks, combineHooks } from '../../models/unet/hooks.ts';
import { planTensorNames, tomeHooks as modelTomeHooks } from '../../models/unet/tome.ts';
import { EngineError } from '../errors.ts';
import type { IntTensor, Tensor } from '../model.ts';
import { deriveSeed, destinationOffsets, PairedPlanStore } from './plans.ts';

export type TomeMode = 'record' | 'edit';

/** A merged self-attention site: enough to draw destinations and read plans. */
export interface TomeSite {
  readonly name: string;
  readonly level: number;
  readonly height: number;
  readonly width: number;
  /** tokens per frame after merging */
  readonly mergedTokens: number;
}

/** One site's plan for all frames of one call (int64 data as numbers). */
export interface FramePlan {
  /** [B', cells] */
  dstTokens: { data: Int32Array; rows: number };
  kept: { data: Int32Array; rows: number };
  merged: { data: Int32Array; rows: number };
  dstSlot: { data: Int32Array; rows: number };
}

/** Per-run token-merge state the pipeline drives. */
export interface TomeRun {
  /** identity of the graph variant ('off' when disabled) */
  readonly key: string;
  readonly enabled: boolean;
  /** Adds the token-merge hooks to a graph's hooks; merged sites are appended to `sites` while building. */
  combine(hooks: AttentionHooks, mode: TomeMode, sites: TomeSite[]): AttentionHooks;
  /** Extra feeds of one UNet call at timestep t for a graph with these merged sites. */
  feeds(timestep: number, mode: TomeMode, frames: number, groups: number, sites: readonly TomeSite[]): Record<string, Tensor | IntTensor>;
  /** Takes the plans an inversion call exported at timestep t. */
  collect(timestep: number, outputs: Record<string, Tensor | IntTensor>, sites: readonly TomeSite[]): void;
  /** The plan recorded at (t, site), when pairing recorded one. */
  plan(timestep: number, site: string): FramePlan | undefined;
  /** Sets the object-centric saliency [F, h, w] at latent resolution (1 = foreground). */
  setSaliency(mask: Float32Array | null, frames: number, height: number, width: number): void;
  /** how many plans editing imported (paired reuse, for tests and the report) */
  readonly importedPlans: number;
}

/** No token merging: hooks unchanged, no feeds. */
export const NO_TOME: TomeRun = Object.freeze({
  key: 'off',
  enabled: false,
  combine: (hooks: AttentionHooks) => hooks,
  feeds: () => ({}),
  collect: () => undefined,
  plan: () => undefined,
  setSaliency: () => undefined,
  importedPlans: 0,
});

function toInt32(t: Tensor | IntTensor | undefined, name: string): { data: Int32Array; rows: number } {
  if (!t || !('int64' in t)) throw new EngineError('internal', `Token merging: the inversion graph exported no int64 output '${name}'.`);
  return { data: Int32Array.from(t.int64 as ArrayLike<bigint | number>, Number), rows: t.dims[0] };
}

/** Repeats each row block `groups` times along the batch: [rows, n] -> [groups * rows, n]. */
function tileRows(data: Int32Array | Float32Array, groups: number): BigInt64Array | Float32Array {
  if (data instanceof Float32Array) {
    const out = new Float32Array(data.length * groups);
    for (let g = 0; g < groups; g++) out.set(data, g * data.length);
    return out;
  }
  const out = new BigInt64Array(data.length * groups);
  for (let g = 0; g < groups; g++) for (let i = 0; i < data.length; i++) out[g * data.length + i] = BigInt(data[i]);
  return out;
}

/** Average-pools a [F, h, w] mask to [F, h>>l, w>>l]. */
function poolToLevel(mask: Float32Array, frames: number, h: number, w: number, level: number): Float32Array {
  const s = 2 ** level, lh = h >> level, lw = w >> level;
  const out = new Float32Array(frames * lh * lw);
  for (let f = 0; f < frames; f++) for (let y = 0; y < lh; y++) for (let x = 0; x < lw; x++) {
    let sum = 0;
    for (let dy = 0; dy < s; dy++) for (let dx = 0; dx < s; dx++) sum += mask[(f * h + y * s + dy) * w + x * s + dx];
    out[(f * lh + y) * lw + x] = sum / (s * s);
  }
  return out;
}

/**
 * Token-merge state for the options (NO_TOME when merging is off or every ratio is 0).
 * @throws EngineError('invalid_request') for scope 'clip', which the graph does not implement.
 */
export function tomeHooks(options: EditOptions, _geometry: { frames: number; latentHeight: number; latentWidth: number }): TomeRun {
  const t = options.tome;
  if (!t.enabled || t.ratio.every((r) => r === 0)) return NO_TOME;
  if (t.scope !== 'frame') {
    throw new EngineError('invalid_request', `tome.scope '${t.scope}' is not implemented; use 'frame' (each frame merges within itself, as the middle-frame keys need).`);
  }
  const paired = t.paired;
  const plans = new PairedPlanStore<FramePlan>();
  let saliency: { mask: Float32Array; frames: number; height: number; width: number } | null = null;
  let imported = 0;
  const key = `tome-${t.ratio.join('_')}-${t.sx}x${t.sy}-${paired ? 'paired' : 'unpaired'}-${t.objectCentric ? `oc${t.beta}` : 'plain'}`;

  const levelHooks = (mode: TomeMode, sites: TomeSite[]): AttentionHooks[] => t.ratio.flatMap((ratio, level) => {
    if (ratio <= 0) return [];
    const inner = modelTomeHooks({
      ratio,
      maxDownsample: 2 ** level,
      sx: t.sx,
      sy: t.sy,
      destinations: 'input',
      objectCentric: t.objectCentric ? { beta: t.beta } : undefined,
      plans: !paired ? 'compute' : mode === 'record' ? 'export' : 'import',
    });
    return [{
      tokenMerge(g, site, x) {
        if (site.level !== level) return undefined;
        const merge = inner.tokenMerge?.(g, site, x);
        if (merge) sites.push({ name: site.name, level, height: site.height, width: site.width, mergedTokens: merge.mergedTokens });
        return merge;
      },
    }];
  });

  return {
    key,
    enabled: true,
    get importedPlans() {
      return imported;
    },
    combine(hooks, mode, sites) {
      return combineHooks(hooks, ...levelHooks(mode, sites));
    },
    feeds(timestep, mode, frames, groups, sites) {
      const feeds: Record<string, Tensor | IntTensor> = {};
      const importing = paired && mode === 'edit';
      for (const site of sites) {
        if (importing) {
          const plan = plans.get(timestep, site.name);
          imported++;
          const names = planTensorNames(site.name);
          const cells = plan.dstTokens.data.length / plan.dstTokens.rows;
          const dstGroups = plan.dstTokens.rows === 1 ? 1 : groups;
          feeds[names.dstTokens] = { int64: tileRows(plan.dstTokens.data, dstGroups) as BigInt64Array, dims: [plan.dstTokens.rows * dstGroups, cells] };
          for (const [name, part] of [[names.keptTokens, plan.kept], [names.mergedTokens, plan.merged], [names.dstSlot, plan.dstSlot]] as const) {
            feeds[name] = { int64: tileRows(part.data, groups) as BigInt64Array, dims: [part.rows * groups, part.data.length / part.rows] };
          }
          continue;
        }
        // destinations: one seeded draw per frame (or one for all frames), the same for every group
        const rows = t.resamplePerFrame ? frames : 1;
        const drawn = destinationOffsets({ seed: deriveSeed(options.seed, timestep, site.name), frames: rows, h: site.height, w: site.width, sx: t.sx, sy: t.sy });
        const cells = drawn[0].length;
        const flat = new Int32Array(rows * cells);
        drawn.forEach((row, i) => flat.set(row, i * cells));
        const tiledRows = rows === 1 ? 1 : groups;
        feeds[`${site.name}.tome.dst_offsets`] = { int64: tileRows(flat, tiledRows) as BigInt64Array, dims: [rows * tiledRows, cells] };
        if (t.objectCentric) {
          const name = `tome.saliency.l${site.level}`;
          if (feeds[name]) continue;
          const hw = site.height * site.width;
          const pooled = saliency ? poolToLevel(saliency.mask, saliency.frames, saliency.height, saliency.width, site.level) : new Float32Array(frames * hw);
          feeds[name] = { data: tileRows(pooled, groups) as Float32Array, dims: [frames * groups, hw] };
        }
      }
      return feeds;
    },
    collect(timestep, outputs, sites) {
      if (!paired) return;
      for (const site of sites) {
        const names = planTensorNames(site.name);
        plans.put(timestep, site.name, {
          dstTokens: toInt32(outputs[names.dstTokens], names.dstTokens),
          kept: toInt32(outputs[names.keptTokens], names.keptTokens),
          merged: toInt32(outputs[names.mergedTokens], names.mergedTokens),
          dstSlot: toInt32(outputs[names.dstSlot], names.dstSlot),
        });
      }
    },
    plan: (timestep, site) => (plans.has(timestep, site) ? plans.get(timestep, site) : undefined),
    setSaliency(mask, frames, height, width) {
      saliency = mask ? { mask, frames, height, width } : null;
    },
  };
}

/**
 * For frame f of a plan, the merged row each of the N tokens reads on unmerge (kept i -> i, destination j ->
 * kept + j, merged source -> kept + its slot): the host-side view of the graph's unmerge.
 */
export function unmergeRows(plan: FramePlan, frame: number, tokens: number): Int32Array {
  const keptPer = plan.kept.data.length / plan.kept.rows;
  const mergedPer = plan.merged.data.length / plan.merged.rows;
  const cells = plan.dstTokens.data.length / plan.dstTokens.rows;
  const dstRow = plan.dstTokens.rows === 1 ? 0 : frame;
  const rowOf = new Int32Array(tokens);
  for (let i = 0; i < keptPer; i++) rowOf[plan.kept.data[frame * keptPer + i]] = i;
  for (let j = 0; j < cells; j++) rowOf[plan.dstTokens.data[dstRow * cells + j]] = keptPer + j;
  for (let k = 0; k < mergedPer; k++) rowOf[plan.merged.data[frame * mergedPer + k]] = keptPer + plan.dstSlot.data[frame * mergedPer + k];
  return rowOf;
}

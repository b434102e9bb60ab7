/**
 * Token merging for one edit run (method.md §6): which levels merge at which ratio, the seeded per-frame (frame
 * scope) or per-clip (clip scope) destination draws fed to the graph, object-centric saliency, pairing (the plan
 * inversion computed at t is the plan editing imports at t), and the merge counts of the report. The in-graph
 * matching is the model layer's (models/unet/tome.ts).
 */
import type { EditOptions } from '../../../shared/edit-request.ts';
import { type AttentionHooks, combineHooks } from '../../models/unet/hooks.ts';
import { planTensorNames, tomeHooks as modelTomeHooks } from '../../models/unet/tome.ts';
import { EngineError } from '../errors.ts';
import type { IntTensor, Tensor } from '../model.ts';
import { type FramePlan, type MapLayout, mapLayoutOf } from './map-layout.ts';
import { clipDestinationOffsets, deriveSeed, destinationOffsets, PairedPlanStore } from './plans.ts';

export type TomeMode = 'record' | 'edit';
export type { FramePlan, MapLayout } from './map-layout.ts';
export { unmergeRows } from './map-layout.ts';

/** A merged self-attention site: enough to draw destinations and read plans. */
export interface TomeSite {
  readonly name: string;
  readonly level: number;
  readonly height: number;
  readonly width: number;
  /** tokens after merging: per frame (frame scope) or per clip (clip scope) */
  readonly mergedTokens: number;
  /** 'clip': the frames of a group merge as one sequence of frames·h·w tokens */
  readonly scope: 'frame' | 'clip';
  /** 'kv': only keys/values are merged; query rows stay one per token */
  readonly target: 'all' | 'kv';
  /** frames per group of the graph */
  readonly frames: number;
  /** keys come from the group's middle frame (unmerged and frame-scope layers) */
  readonly crossFrame: boolean;
}

/** Merge counts of one level over the plans inversion recorded, as means per plan (one UNet call of one layer). */
export interface TomeLevelCounts {
  level: number;
  scope: 'frame' | 'clip';
  target: 'all' | 'kv';
  /** plans counted (merged layers at this level x inversion steps) */
  plans: number;
  /** tokens of one call before merging, all frames */
  tokens: number;
  /** sources merged into a destination */
  merged: number;
  /** merged sources whose destination lies in another frame */
  acrossFrames: number;
  /** source tokens on the foreground (saliency pooled to the level >= 0.5) */
  foregroundSources: number;
  /** foreground sources merged */
  foregroundMerged: number;
  /** foreground sources left unmerged */
  foregroundSpared: number;
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
  /** The stored-map layout of a merged layer at timestep t; null when the layer is not merged. @throws when merged but unpaired */
  mapLayout(timestep: number, site: string): MapLayout | null;
  /** Merge counts per merged level over the recorded (paired) plans, lowest level first. */
  counts(): TomeLevelCounts[];
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
  mapLayout: () => null,
  counts: () => [],
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

/** Per-level running sums of the merge counts. */
class MergeCounter {
  private readonly levels = new Map<number, TomeLevelCounts>();

  /** Adds one recorded plan of `site`; `foreground` is the level's saliency [F·h·w] fed to that call, or null. */
  add(site: TomeSite, plan: FramePlan, foreground: Float32Array | null): void {
    const n = site.height * site.width;
    const entry = this.levels.get(site.level) ?? { level: site.level, scope: site.scope, target: site.target, plans: 0, tokens: 0, merged: 0, acrossFrames: 0, foregroundSources: 0, foregroundMerged: 0, foregroundSpared: 0 };
    this.levels.set(site.level, entry);
    entry.plans++;
    const rows = plan.merged.rows;
    const perRow = plan.merged.data.length / rows;
    const keptPer = plan.kept.data.length / rows;
    const cells = plan.dstTokens.data.length / plan.dstTokens.rows;
    const tokensPerRow = keptPer + perRow + cells;
    entry.tokens += rows * tokensPerRow;
    entry.merged += rows * perRow;
    // frame scope: row = frame, token = position in the frame; clip scope: one row, token = frame·n + position
    const frameOf = (row: number, token: number) => (site.scope === 'clip' ? Math.floor(token / n) : row);
    const isForeground = (row: number, token: number) => foreground !== null && foreground[site.scope === 'clip' ? token : row * n + token] >= 0.5;
    for (let row = 0; row < rows; row++) {
      const dstRow = plan.dstTokens.rows === 1 ? 0 : row;
      for (let k = 0; k < perRow; k++) {
        const token = plan.merged.data[row * perRow + k];
        const dst = plan.dstTokens.data[dstRow * cells + plan.dstSlot.data[row * perRow + k]];
        if (frameOf(row, token) !== frameOf(row, dst)) entry.acrossFrames++;
        if (isForeground(row, token)) { entry.foregroundMerged++; entry.foregroundSources++; }
      }
      for (let k = 0; k < keptPer; k++) {
        if (isForeground(row, plan.kept.data[row * keptPer + k])) { entry.foregroundSpared++; entry.foregroundSources++; }
      }
    }
  }

  /** Means per plan, lowest level first. */
  means(): TomeLevelCounts[] {
    return [...this.levels.values()].sort((a, b) => a.level - b.level).map((e) => {
      const per = (v: number) => v / e.plans;
      return { ...e, tokens: per(e.tokens), merged: per(e.merged), acrossFrames: per(e.acrossFrames), foregroundSources: per(e.foregroundSources), foregroundMerged: per(e.foregroundMerged), foregroundSpared: per(e.foregroundSpared) };
    });
  }
}

/**
 * Token-merge state for the options (NO_TOME when merging is off or every ratio is 0).
 * Clip scope merges the frames of a group together where self-attention spans frames (method.md §6).
 */
export function tomeHooks(options: EditOptions, _geometry: { frames: number; latentHeight: number; latentWidth: number }): TomeRun {
  const t = options.tome;
  if (!t.enabled || t.ratio.every((r) => r === 0)) return NO_TOME;
  const paired = t.paired;
  const plans = new PairedPlanStore<FramePlan>();
  const known = new Map<string, TomeSite>();
  const counter = new MergeCounter();
  /** the level saliency [F·h·w] fed to the latest recording call, for the counts */
  const fed = new Map<number, Float32Array>();
  let saliency: { mask: Float32Array; frames: number; height: number; width: number } | null = null;
  let imported = 0;
  const scopeKey = t.scope === 'clip' ? `clip${t.st}` : 'frame';
  const key = `tome-${t.ratio.join('_')}-${scopeKey}-${t.sx}x${t.sy}-${t.target}-${paired ? 'paired' : 'unpaired'}-${t.objectCentric ? `oc${t.beta}` : 'plain'}`;

  const levelHooks = (mode: TomeMode, sites: TomeSite[]): AttentionHooks[] => t.ratio.flatMap((ratio, level) => {
    if (ratio <= 0) return [];
    const inner = modelTomeHooks({
      ratio,
      maxDownsample: 2 ** level,
      sx: t.sx,
      sy: t.sy,
      st: t.st,
      scope: t.scope,
      target: t.target,
      destinations: 'input',
      objectCentric: t.objectCentric ? { beta: t.beta } : undefined,
      plans: !paired ? 'compute' : mode === 'record' ? 'export' : 'import',
    });
    return [{
      tokenMerge(g, site, x) {
        if (site.level !== level) return undefined;
        const merge = inner.tokenMerge?.(g, site, x);
        if (merge) {
          const described: TomeSite = {
            name: site.name, level, height: site.height, width: site.width, mergedTokens: merge.mergedTokens,
            scope: merge.scope ?? 'frame', target: merge.target ?? 'all', frames: site.frames, crossFrame: site.crossFrame,
          };
          sites.push(described);
        }
        return merge;
      },
    }];
  });
  const remember = (sites: readonly TomeSite[]) => {
    for (const site of sites) known.set(site.name, site);
  };

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
      remember(sites);
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
        const seed = deriveSeed(options.seed, timestep, site.name);
        if (site.scope === 'clip') {
          // one draw over the clip's st x sy x sx cells per (timestep, layer), shared by the groups
          const drawn = clipDestinationOffsets({ seed, frames, st: t.st, h: site.height, w: site.width, sx: t.sx, sy: t.sy });
          feeds[`${site.name}.tome.dst_offsets`] = { int64: tileRows(drawn, 1) as BigInt64Array, dims: [1, drawn.length] };
        } else {
          // destinations: one seeded draw per frame (or one for all frames), the same for every group
          const rows = t.resamplePerFrame ? frames : 1;
          const drawn = destinationOffsets({ seed, frames: rows, h: site.height, w: site.width, sx: t.sx, sy: t.sy });
          const cells = drawn[0].length;
          const flat = new Int32Array(rows * cells);
          drawn.forEach((row, i) => flat.set(row, i * cells));
          const tiledRows = rows === 1 ? 1 : groups;
          feeds[`${site.name}.tome.dst_offsets`] = { int64: tileRows(flat, tiledRows) as BigInt64Array, dims: [rows * tiledRows, cells] };
        }
        const hw = site.height * site.width;
        const pooled = saliency ? poolToLevel(saliency.mask, saliency.frames, saliency.height, saliency.width, site.level) : null;
        if (mode === 'record') {
          if (pooled) fed.set(site.level, pooled);
          else fed.delete(site.level);
        }
        if (t.objectCentric) {
          const name = `tome.saliency.l${site.level}`;
          if (feeds[name]) continue;
          feeds[name] = { data: tileRows(pooled ?? new Float32Array(frames * hw), groups) as Float32Array, dims: [frames * groups, hw] };
        }
      }
      return feeds;
    },
    collect(timestep, outputs, sites) {
      if (!paired) return;
      remember(sites);
      for (const site of sites) {
        const names = planTensorNames(site.name);
        const plan: FramePlan = {
          dstTokens: toInt32(outputs[names.dstTokens], names.dstTokens),
          kept: toInt32(outputs[names.keptTokens], names.keptTokens),
          merged: toInt32(outputs[names.mergedTokens], names.mergedTokens),
          dstSlot: toInt32(outputs[names.dstSlot], names.dstSlot),
        };
        plans.put(timestep, site.name, plan);
        counter.add(site, plan, fed.get(site.level) ?? null);
      }
    },
    plan: (timestep, site) => (plans.has(timestep, site) ? plans.get(timestep, site) : undefined),
    setSaliency(mask, frames, height, width) {
      saliency = mask ? { mask, frames, height, width } : null;
    },
    mapLayout(timestep, name) {
      const site = known.get(name);
      if (!site) return null;
      if (!plans.has(timestep, name)) {
        throw new EngineError('internal', `Layer ${name} is token-merged but no paired plan exists at timestep ${timestep}; stored maps need paired plans (tome.paired).`);
      }
      return mapLayoutOf(site, plans.get(timestep, name));
    },
    counts: () => counter.means(),
  };
}


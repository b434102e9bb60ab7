/**
 * Token merging for one edit run (method.md §6): which levels merge, the seeded per-frame destination draws fed
 * to the graph, and pairing (the plan inversion computed at t is what editing at t imports).
 *
 * The in-graph matching lives in the UNet model layer; this file decides what to feed it.
 */
import type { EditOptions } from '../../../shared/edit-request.ts';
import type { AttentionHooks } from '../../models/unet/hooks.ts';
import type { IntTensor, Tensor } from '../model.ts';

export type TomeMode = 'record' | 'edit';

/** Per-run token-merge state the pipeline drives. */
export interface TomeRun {
  /** identity of the graph variant ('off' when disabled) */
  readonly key: string;
  /** Adds the token-merge hooks to a graph's hooks. */
  combine(hooks: AttentionHooks, mode: TomeMode): AttentionHooks;
  /** Extra feeds of one UNet call at timestep t. */
  feeds(timestep: number, mode: TomeMode, frames: number): Record<string, Tensor | IntTensor>;
  /** Takes what an inversion call exported (the plans) at timestep t. */
  collect(timestep: number, outputs: Record<string, Tensor | IntTensor>): void;
}

/** No token merging: hooks unchanged, no feeds. */
export const NO_TOME: TomeRun = Object.freeze({
  key: 'off',
  combine: (hooks: AttentionHooks) => hooks,
  feeds: () => ({}),
  collect: () => undefined,
});

/** Token-merge state for the options (NO_TOME when merging is off or every ratio is 0). */
export function tomeHooks(options: EditOptions, _geometry: { frames: number; latentHeight: number; latentWidth: number }): TomeRun {
  if (!options.tome.enabled || options.tome.ratio.every((r) => r === 0)) return NO_TOME;
  return NO_TOME;
}

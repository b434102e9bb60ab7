/**
 * The run report (method.md §7), written as `report.json` next to the output.
 */
import type { EditOptions } from '../../shared/edit-request.ts';
import type { MASK_SOURCES } from '../../shared/job.ts';
import { describeJobRun } from '../../shared/job-run.ts';
import type { Box } from './ocs.ts';
import type { SaliencyBasis, SaliencyWords } from './saliency-words.ts';
import type { TomeLevelCounts } from './tome/hooks.ts';

/** Where the object-centric mask came from: the uploaded mask video, or which words' attention (saliency-words.ts). */
export type MaskSource = 'video' | SaliencyBasis;

type JobMaskSource = (typeof MASK_SOURCES)[number];
/** The job record lists the same mask sources (shared/job.ts): this fails to compile when the two sets differ. */
export const MASK_SOURCES_AGREE: [MaskSource] extends [JobMaskSource] ? ([JobMaskSource] extends [MaskSource] ? true : never) : never = true;

/** Wall time per stage, seconds. Absent stages did not run in this process (e.g. decode by the caller). */
export interface StageTimes {
  decode?: number;
  text?: number;
  vaeEncode?: number;
  inversion?: number;
  edit?: number;
  vaeDecode?: number;
  encode?: number;
  /** graph building and session creation, when it happened during the run */
  load?: number;
}

/** Everything method.md §7 asks for. */
export interface EditReport {
  preset: EditOptions['preset'];
  /** what actually ran: an `ocd` job without a usable mask runs as `optimized`, and `note` says why */
  ranAs: EditOptions['preset'];
  note?: string;
  /** every knob, resolved */
  options: EditOptions;
  seed: number;
  model: { identity: string; provider?: string };
  frames: number;
  size: { width: number; height: number; latentWidth: number; latentHeight: number };
  /** FateZero's cross-attention controller; null for ControlVideo, which fuses nothing */
  controller: 'refine' | 'replace' | null;
  promptTruncated: boolean;
  stages: StageTimes;
  unetCalls: number;
  /** Σ over UNet calls of batch items x latent pixels */
  tokenSteps: number;
  /** tokenSteps / the fatezero preset's (50 inversion calls of F + 50 edit calls of 2F) at the same frames and size */
  tokenStepsRelative: number;
  attentionStore: { bytes: number; memoryBytes: number; diskBytes: number; entries: number };
  peakRssBytes: number;
  /** the object-centric mask: its area (0..1 of the latent), foreground box, source and (auto) the words it follows */
  mask: { areaFraction: number; box: Box | null; source: MaskSource; words: string[] } | null;
  /**
   * token merging: merged layers per call, how many paired plans editing imported from inversion, and per merged
   * level the merge counts of the recorded plans (means per layer call: tokens merged, merged across frames,
   * foreground sources merged and spared; empty when plans are not paired, foreground 0 without a mask)
   */
  tome: { mergedLayers: number; importedPlans: number; levels: TomeLevelCounts[] } | null;
}

/** Why an `ocd` edit found no mask at all. */
export function noMaskNote(mode: EditOptions['ocd']['mask'], saliency: SaliencyWords, ranAs: EditOptions['preset'] = 'optimized'): string {
  const cause = mode === 'none'
    ? "ocd.mask is 'none'"
    : mode === 'video'
      ? 'no mask video was given'
      : saliency.basis === null
        ? `no words to follow for the auto mask: ${saliency.reason}`
        : 'no cross-attention of the saliency words was recorded';
  return `${cause}; object-centric sampling is off and the edit ran as ${ranAs}`;
}

/** Why an `ocd` edit's mask selected nothing. */
export function emptyMaskNote(source: MaskSource, ranAs: EditOptions['preset'] = 'optimized'): string {
  return `the ${source === 'video' ? 'mask video' : 'auto mask'} is empty (no pixel above the threshold); the edit ran as ${ranAs}`;
}

/** One line on what ran: the preset, and for object-centric runs the mask's area, source and words. */
export function describeRun(report: Pick<EditReport, 'preset' | 'ranAs' | 'note' | 'mask'>): string {
  const mask = report.mask && { areaFraction: report.mask.areaFraction, source: report.mask.source, words: report.mask.words };
  return describeJobRun(report.preset, { ranAs: report.ranAs, note: report.note ?? null, mask });
}

/** Short fixed-width timing table for the CLI. */
export function formatTimingTable(report: EditReport): string {
  const rows: [string, string][] = Object.entries(report.stages).map(([stage, s]) => [stage, `${(s as number).toFixed(2)} s`]);
  const total = Object.values(report.stages).reduce((a: number, b) => a + (b ?? 0), 0);
  rows.push(['total', `${total.toFixed(2)} s`]);
  rows.push(['unet calls', String(report.unetCalls)]);
  rows.push(['token-steps', `${report.tokenSteps} (${(report.tokenStepsRelative * 100).toFixed(1)}% of fatezero)`]);
  rows.push(['attention store', `${(report.attentionStore.bytes / 2 ** 20).toFixed(1)} MiB (${(report.attentionStore.diskBytes / 2 ** 20).toFixed(1)} MiB on disk)`]);
  rows.push(['peak rss', `${(report.peakRssBytes / 2 ** 20).toFixed(0)} MiB`]);
  if (report.mask) rows.push(['mask area', `${(report.mask.areaFraction * 100).toFixed(1)}%${report.mask.box ? ` box ${report.mask.box.width}x${report.mask.box.height}@${report.mask.box.left},${report.mask.box.top}` : ''}`]);
  for (const l of report.tome?.levels ?? []) {
    rows.push([`tome level ${l.level}`, `${l.scope}${l.target === 'kv' ? ' kv' : ''}: ${l.merged.toFixed(0)} of ${l.tokens.toFixed(0)} merged/call, ${l.acrossFrames.toFixed(0)} across frames, foreground ${l.foregroundMerged.toFixed(0)} merged / ${l.foregroundSpared.toFixed(0)} spared`]);
  }
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

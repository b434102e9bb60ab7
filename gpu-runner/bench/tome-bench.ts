/**
 * Token-merging scope benchmark (issue 11): the `ocd` preset with frame-scope merging (the ratios it used before),
 * with clip-scope (temporal) merging, and with keys/values-only merging, against the same `ocd` run without
 * merging. Each run is its own process on the same clip, mask and machine; quality is measured against the
 * unmerged run (merging is an approximation of it) and as background fidelity and temporal consistency.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EditRequest } from '../../shared/edit-request.ts';
import { benchRequest, type BenchRun, endToEnd, makeBoxMask, type PresetBenchConfig, readF32, readFrames, runBenchEdit } from './engine-bench.ts';
import { backgroundError, psnr, temporalConsistency } from './engine-quality.ts';

/** The `ocd` preset's token merging before clip-scope merging: frame scope, ratio [0.75, 0.5]. */
export const OCD_BEFORE_TOME: NonNullable<EditRequest['tome']> = { scope: 'frame', ratio: [0.75, 0.5] };

/** The settings compared: name and the `tome` knobs over the `ocd` preset (null: merging off, the reference). */
export const TOME_VARIANTS: readonly { name: string; tome: EditRequest['tome'] | null }[] = [
  { name: 'ocd, no merging (reference)', tome: null },
  { name: 'ocd before: frame [0.75, 0.5]', tome: OCD_BEFORE_TOME },
  { name: 'frame [0.5, 0.5]', tome: { scope: 'frame', ratio: [0.5, 0.5] } },
  { name: 'ocd preset (clip [0.5, 0.75], st 2)', tome: {} },
  { name: 'clip kv [0.5, 0.75], st 2', tome: { target: 'kv' } },
  { name: 'clip [0.5, 0.9], st 4', tome: { ratio: [0.5, 0.9], st: 4 } },
];

export interface TomeBenchRow {
  run: BenchRun;
  endToEndSeconds: number;
  /** inversion + edit seconds: the stages merging changes */
  unetSeconds: number;
  speedup: number;
  psnrVsUnmerged: number | null;
  backgroundError: number | null;
  temporal: number | null;
}

/** Runs every variant with the box mask video and measures it against the unmerged reference. */
export async function benchTomeScopes(config: PresetBenchConfig): Promise<TomeBenchRow[]> {
  mkdirSync(config.workDir, { recursive: true });
  const clipPath = join(config.clipsDir, config.clip.file);
  const maskPath = makeBoxMask(clipPath, join(config.workDir, `${config.clip.id}-mask.mp4`));
  const common: EditRequest = { ...benchRequest(config), preset: 'ocd', ocd: { mask: 'video' } };
  const runs: BenchRun[] = [];
  for (const [i, v] of TOME_VARIANTS.entries()) {
    const request: EditRequest = { ...common, tome: v.tome === null ? { enabled: false } : v.tome, ...(config.steps ? { sampler: { steps: config.steps } } : {}) };
    runs.push(await runBenchEdit(config, `tome-${i}`, request, maskPath));
  }
  const [reference] = runs;
  const referenceFrames = readFrames(join(reference.dir, 'output.rgb'), reference.out.frames);
  const unet = (r: BenchRun) => (r.out.report.stages.inversion ?? 0) + (r.out.report.stages.edit ?? 0);
  return runs.map((r) => {
    const [F, C, h, w] = r.out.dims;
    const frames = readFrames(join(r.dir, 'output.rgb'), r.out.frames);
    const mask = readF32(join(r.dir, 'mask.f32'));
    return {
      run: r,
      endToEndSeconds: endToEnd(r.out),
      unetSeconds: unet(r),
      speedup: unet(reference) / unet(r),
      psnrVsUnmerged: r === reference ? null : psnr(frames, referenceFrames),
      backgroundError: backgroundError(readF32(join(r.dir, 'edited.f32')), readF32(join(r.dir, 'source.f32')), mask, F, C, h * w),
      temporal: temporalConsistency(frames),
    };
  });
}

const fmt = (v: number | null, digits: number) => (v === null ? '-' : Number.isFinite(v) ? v.toFixed(digits) : 'inf');

/** Markdown table of the comparison. */
export function formatTomeBench(config: PresetBenchConfig, rows: readonly TomeBenchRow[]): string {
  const first = rows[0].run.out;
  const lines = [
    `### ${config.label}: ${config.clip.id}, ${config.frames} frames, size ${first.width}x${first.height}, ocd preset at ${first.report.options.sampler.steps} steps, box mask video`,
    '',
    'Speed-up = (inversion + edit) of the unmerged run / that of the row. Per merged level (l0, l1, ...): tokens merged per',
    'layer call (all frames), of them merged across frames, and foreground sources spared (left unmerged).',
    '',
    '| setting | end to end (s) | inversion + edit (s) | speed-up | UNet calls | merged / across frames / fg spared per call | PSNR vs unmerged (dB) | bg error | temporal |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  rows.forEach((r, i) => {
    const levels = (r.run.out.report.tome?.levels ?? []).map((l) => `l${l.level} ${l.scope}${l.target === 'kv' ? ' kv' : ''}: ${l.merged.toFixed(0)} / ${l.acrossFrames.toFixed(0)} / ${l.foregroundSpared.toFixed(0)}`).join('; ') || '-';
    lines.push(`| ${TOME_VARIANTS[i].name} | ${r.endToEndSeconds.toFixed(2)} | ${r.unetSeconds.toFixed(2)} | ${r.speedup.toFixed(2)}x | ${r.run.out.report.unetCalls} | ${levels} | ${fmt(r.psnrVsUnmerged, 2)} | ${fmt(r.backgroundError, 4)} | ${fmt(r.temporal, 4)} |`);
  });
  return lines.join('\n');
}

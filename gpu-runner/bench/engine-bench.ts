/**
 * The editing-preset benchmark (issue 3): the three presets on one clip, each in its own process, then speed-ups
 * over `fatezero` measured in the same run, attention-store bytes, peak RSS and the quality measures of
 * method.md §8; optionally a sweep for the fastest `ocd` setting whose background fidelity stays within 10% of
 * `optimized`'s.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { EditRequest } from '../../shared/edit-request.ts';
import type { RunOutput, RunSpec } from './engine-run.ts';
import { backgroundError, psnr, temporalConsistency } from './engine-quality.ts';

const run = promisify(execFile);
const RUNNER = join(dirname(fileURLToPath(import.meta.url)), 'engine-run.ts');

/** One clip of the shared manifest. */
export interface ClipEntry {
  id: string;
  file: string;
  source_prompt: string;
  edits: { target_prompt: string; blend_words: [string[], string[]] | null }[];
}

export interface PresetBenchConfig {
  readonly label: string;
  readonly modelDir: string;
  readonly cacheDir: string;
  readonly clipsDir: string;
  readonly clip: ClipEntry;
  readonly frames: number;
  readonly size: number | null;
  readonly workDir: string;
  readonly threads?: number;
  readonly weightStorage?: 'float32' | 'float16';
  /** ocd settings to try besides the defaults */
  readonly sweep?: readonly Partial<EditRequest>[];
  /** override steps of every preset (profiling only; null = the presets' defaults) */
  readonly steps?: number | null;
  /**
   * Run fatezero at this many steps only and estimate its default-step time from it (`estimateDefaultSteps`);
   * optimized and ocd run at their defaults. For sizes where a full fatezero run takes too long. @default null
   */
  readonly fatezeroProfileSteps?: number | null;
  /** Also run fatezero in full, to check the estimate against it (at a size where that is affordable). */
  readonly checkEstimate?: boolean;
  /** Reuse a run whose folder holds the result of the same request (resumes a bench a failure stopped). */
  readonly reuseRuns?: boolean;
  /** UNet attention query chunk passed to every run. */
  readonly attentionQueryChunk?: number;
  /**
   * Extra `ocd` rows after the presets, each the `ocd` request (mask video) with these knobs over it, measured
   * like the presets (e.g. the ocd preset's previous token merging, to compare against today's).
   */
  readonly extraOcd?: readonly { name: string; knobs: Partial<EditRequest> }[];
  readonly log?: (line: string) => void;
}

export interface PresetRow {
  name: string;
  request: EditRequest;
  out: RunOutput;
  endToEndSeconds: number;
  speedup: number;
  backgroundError: number | null;
  psnrVsFatezero: number | null;
  temporal: number | null;
}

export interface PresetBenchResult {
  config: PresetBenchConfig;
  rows: PresetRow[];
  sweep: PresetRow[];
  bestSweep: PresetRow | null;
  maskAreaFraction: number | null;
  /** fatezero's estimate from its profile vs a full run, when `checkEstimate` asked for one */
  estimateCheck?: { profileSteps: number; estimated: number; measured: number } | null;
  /** 1-minute load average when the runs started and when they ended (the machine may be shared) */
  load?: { start: number; end: number };
}

/** A mask video for the clip: a white box over the central half of each side (area 25%), black elsewhere. */
export function makeBoxMask(clipPath: string, outPath: string): string {
  if (existsSync(outPath)) return outPath;
  const [w, h, rate, duration] = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,r_frame_rate:format=duration', '-of', 'default=nw=1:nk=1', clipPath], { encoding: 'utf8' }).trim().split('\n');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=black:s=${w}x${h}:r=${rate}:d=${Number(duration) + 1}`,
    '-vf', 'drawbox=x=iw/4:y=ih/4:w=iw/2:h=ih/2:color=white:t=fill', '-pix_fmt', 'yuv420p', outPath]);
  return outPath;
}

/** A finished benchmark run: its request, its output and the folder holding its frames and latents. */
export interface BenchRun {
  name: string;
  request: EditRequest;
  out: RunOutput;
  dir: string;
}

/** Runs one edit of the clip in its own process (engine-run.ts) and reads its result line. */
export async function runBenchEdit(config: PresetBenchConfig, name: string, request: EditRequest, maskPath: string | undefined): Promise<BenchRun> {
  const log = config.log ?? (() => undefined);
  const dir = join(config.workDir, `${config.label}-${name}`);
  const spec: RunSpec = {
    modelDir: config.modelDir, cacheDir: config.cacheDir, clipPath: join(config.clipsDir, config.clip.file), maskPath,
    request, outDir: dir, threads: config.threads, weightStorage: config.weightStorage,
    attentionQueryChunk: config.attentionQueryChunk,
  };
  const saved = join(dir, 'result.json');
  if (config.reuseRuns && existsSync(saved)) {
    const kept = JSON.parse(readFileSync(saved, 'utf8')) as { request: EditRequest; out: RunOutput };
    if (JSON.stringify(kept.request) === JSON.stringify(request)) {
      log(`  ${config.label}: ${name} reused from ${saved}`);
      return { name, request, out: kept.out, dir };
    }
  }
  log(`  ${config.label}: running ${name} ...`);
  const { stdout } = await run(process.execPath, ['--import', 'tsx', RUNNER, JSON.stringify(spec)], { maxBuffer: 1 << 26, env: process.env });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`benchmark run ${name} printed no result:\n${stdout.slice(-2000)}`);
  const out = JSON.parse(line.slice('RESULT '.length)) as RunOutput;
  // kept beside the run's frames, so a long run's numbers survive a failure later in the bench
  writeFileSync(saved, JSON.stringify({ request, out }));
  log(`  ${config.label}: ${name} done in ${endToEnd(out).toFixed(1)} s end to end (${out.report.unetCalls} UNet calls)`);
  return { name, request, out, dir };
}

/** The clip's edit request (first edit with blend words) at the bench's frames and size. */
export function benchRequest(config: PresetBenchConfig): EditRequest {
  const edit = config.clip.edits.find((e) => e.blend_words) ?? config.clip.edits[0];
  return {
    sourcePrompt: config.clip.source_prompt,
    targetPrompt: edit.target_prompt,
    frames: { count: config.frames },
    size: config.size,
    ...(edit.blend_words ? { fusion: { blendWords: { source: edit.blend_words[0], target: edit.blend_words[1] } } } : {}),
  };
}

/** fatezero's default steps (inversion and editing each). */
export const FATEZERO_DEFAULT_STEPS = 50;

/**
 * A run's end-to-end seconds at `targetSteps`, from a run at fewer steps: the per-step stages (inversion, edit)
 * scale linearly with the step count; the fixed stages (decode, text, VAE, encode) do not. Every step of
 * fatezero's inversion and edit does the same work (same graph, same store writes per step), which is what
 * makes the linear scaling hold; `--check-estimate` measures it against a full run.
 */
export function estimateDefaultSteps(out: RunOutput, targetSteps: number): number {
  const s = out.report.stages;
  const ran = out.report.options.sampler.steps;
  return endToEnd(out) + ((s.inversion ?? 0) + (s.edit ?? 0)) * (targetSteps / ran - 1);
}

export function endToEnd(out: RunOutput): number {
  const s = out.report.stages;
  return (s.decode ?? 0) + (s.text ?? 0) + (s.vaeEncode ?? 0) + (s.inversion ?? 0) + (s.edit ?? 0) + (s.vaeDecode ?? 0) + (s.encode ?? 0);
}

export function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function readFrames(path: string, count: number): Uint8Array[] {
  const b = readFileSync(path);
  const per = b.length / count;
  return Array.from({ length: count }, (_, f) => new Uint8Array(b.buffer, b.byteOffset + f * per, per));
}

/** Runs the presets (and the sweep) and measures them. */
export async function benchPresets(config: PresetBenchConfig): Promise<PresetBenchResult> {
  const loadStart = loadavg()[0];
  mkdirSync(config.workDir, { recursive: true });
  const clipPath = join(config.clipsDir, config.clip.file);
  const maskPath = makeBoxMask(clipPath, join(config.workDir, `${config.clip.id}-mask.mp4`));
  const common = benchRequest(config);
  const withSteps = (r: EditRequest): EditRequest => (config.steps ? { ...r, sampler: { ...r.sampler, steps: config.steps } } : r);

  const runOne = (name: string, request: EditRequest, useMask: boolean) => runBenchEdit(config, name, withSteps(request), useMask ? maskPath : undefined);

  const profile = config.fatezeroProfileSteps ?? null;
  const fatezeroRequest: EditRequest = { ...common, preset: 'fatezero', ...(profile ? { sampler: { steps: profile }, inversion: { steps: profile } } : {}) };
  // the full run comes first, so the profile (the table's row) runs with the graphs already built, as it would alone
  // ocd (and its extra rows) run first: on a shared machine they are the rows a failure later should not cost
  const ocdRun = await runOne('ocd', { ...common, preset: 'ocd', ocd: { mask: 'video' } }, true);
  const extraRuns: BenchRun[] = [];
  for (const extra of config.extraOcd ?? []) {
    extraRuns.push(await runOne(extra.name, { ...common, preset: 'ocd', ...extra.knobs, ocd: { mask: 'video', ...extra.knobs.ocd } }, true));
  }
  const optimizedRun = await runOne('optimized', { ...common, preset: 'optimized' }, false);
  // the full run comes first, so the profile (the table's row) runs with the graphs already built, as it would alone
  const full = profile && config.checkEstimate ? await runOne('fatezero-full', { ...common, preset: 'fatezero' }, false) : null;
  const profiled = await runOne('fatezero', fatezeroRequest, false);
  const estimateCheck = full ? { profileSteps: profile as number, estimated: estimateDefaultSteps(profiled.out, FATEZERO_DEFAULT_STEPS), measured: endToEnd(full.out) } : null;
  const runs = [profiled, optimizedRun, ocdRun, ...extraRuns];
  const ocdDir = runs[2].dir;
  const mask = existsSync(join(ocdDir, 'mask.f32')) ? readF32(join(ocdDir, 'mask.f32')) : null;
  const fatezeroFrames = readFrames(join(runs[0].dir, 'output.rgb'), runs[0].out.frames);
  // with a fatezero profile the baseline is its estimate at the default steps
  const baseline = profile ? estimateDefaultSteps(runs[0].out, FATEZERO_DEFAULT_STEPS) : endToEnd(runs[0].out);

  const measure = (r: BenchRun): PresetRow => {
    const [F, C, h, w] = r.out.dims;
    const frames = readFrames(join(r.dir, 'output.rgb'), r.out.frames);
    const e2e = r.name === 'fatezero' && profile ? baseline : endToEnd(r.out);
    return {
      name: r.name,
      request: r.request,
      out: r.out,
      endToEndSeconds: e2e,
      speedup: baseline / e2e,
      backgroundError: backgroundError(readF32(join(r.dir, 'edited.f32')), readF32(join(r.dir, 'source.f32')), mask, F, C, h * w),
      psnrVsFatezero: r.name === 'fatezero' ? null : psnr(frames, fatezeroFrames),
      temporal: temporalConsistency(frames),
    };
  };
  const rows = runs.map(measure);
  const sweep: PresetRow[] = [];
  for (const [i, knobs] of (config.sweep ?? []).entries()) {
    const request: EditRequest = { ...common, preset: 'ocd', ...knobs, ocd: { mask: 'video', ...knobs.ocd } };
    sweep.push(measure(await runOne(`ocd-sweep-${i}`, request, true)));
  }
  const optimizedError = rows[1].backgroundError;
  const within = (r: PresetRow) => optimizedError === null || (r.backgroundError !== null && r.backgroundError <= 1.1 * optimizedError);
  const candidates = [rows[2], ...sweep].filter(within).sort((a, b) => a.endToEndSeconds - b.endToEndSeconds);
  return { config, rows, sweep, bestSweep: candidates[0] ?? null, maskAreaFraction: rows[2].out.report.mask?.areaFraction ?? null, estimateCheck, load: { start: loadStart, end: loadavg()[0] } };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)}`;
const fmt = (v: number | null, digits = 3) => (v === null ? '-' : Number.isFinite(v) ? v.toFixed(digits) : 'inf');

/** Describes a sweep setting in one line. */
function knobsOf(r: PresetRow): string {
  const o = r.out.report.options;
  return `gamma ${o.ocd.gamma}, phi ${o.ocd.phi}, ${o.ocd.background}, ratio [${o.tome.ratio.join(', ')}]`;
}

/** Markdown for one bench: the preset table, the targets, the sweep. */
export function formatPresetBench(result: PresetBenchResult): string {
  const { config, rows } = result;
  const lines: string[] = [];
  lines.push(`### ${config.label}: ${config.clip.id}, ${config.frames} frames, size ${rows[0].out.width}x${rows[0].out.height}`);
  lines.push('');
  lines.push(`Edit: "${rows[0].request.sourcePrompt}" -> "${rows[0].request.targetPrompt}"${rows[0].request.fusion?.blendWords ? ` (blend words ${rows[0].request.fusion.blendWords.source.join(' ')} -> ${rows[0].request.fusion.blendWords.target.join(' ')})` : ''}; ` +
    `ocd uses a box mask video over the central quarter (latent mask area after dilation ${result.maskAreaFraction === null ? '-' : (100 * result.maskAreaFraction).toFixed(1)}%).` +
    (config.steps ? ` **Profile run: every preset at ${config.steps} steps instead of its default.**` : ''));
  lines.push('');
  lines.push('| preset | steps | end to end (s) | speed-up | decode | text | VAE enc | inversion | edit | VAE dec | encode | graph load (s) | UNet calls | token-steps (rel.) | store (MiB) | peak RSS (MiB) | bg error | PSNR vs fatezero (dB) | temporal |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const s = r.out.report.stages;
    const t = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(2));
    lines.push(`| ${r.name} | ${r.out.report.options.sampler.steps} | ${r.endToEndSeconds.toFixed(2)} | ${r.speedup.toFixed(2)}x | ${t(s.decode)} | ${t(s.text)} | ${t(s.vaeEncode)} | ${t(s.inversion)} | ${t(s.edit)} | ${t(s.vaeDecode)} | ${t(s.encode)} | ${r.out.loadSeconds.toFixed(1)} | ${r.out.report.unetCalls} | ${r.out.report.tokenSteps} (${r.out.report.tokenStepsRelative.toFixed(2)}) | ${mib(r.out.report.attentionStore.bytes)} | ${mib(r.out.report.peakRssBytes)} | ${fmt(r.backgroundError, 4)} | ${fmt(r.psnrVsFatezero, 2)} | ${fmt(r.temporal, 4)} |`);
  }
  const [fz, opt, ocd] = rows;
  if (result.load) lines.push('', `Load average (1 min) at the start / end of the runs: ${result.load.start.toFixed(1)} / ${result.load.end.toFixed(1)} on ${cpus().length} vCPU.`);
  for (const extra of rows.slice(3)) {
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
    const unet = (r: PresetRow) => (r.out.report.stages.inversion ?? 0) + (r.out.report.stages.edit ?? 0);
    lines.push('', `ocd vs ${extra.name}${config.steps ? ` (both at ${config.steps} steps)` : ''}: end to end ${ratio(extra.endToEndSeconds, ocd.endToEndSeconds)}, inversion + edit ${ratio(unet(extra), unet(ocd))} faster; peak RSS ${ratio(ocd.out.report.peakRssBytes, extra.out.report.peakRssBytes)} of its.`);
  }
  if (config.steps) {
    // Profile: scale the inversion and edit stages to each preset's default step count (an estimate).
    const defaults: Record<string, number> = { fatezero: 50, optimized: 20, ocd: 20 };
    lines.push('');
    lines.push('Estimated end to end at the default steps (inversion and edit stages scaled by default steps / profiled steps):');
    const estimate = (r: PresetRow) => {
      const s = r.out.report.stages;
      const scale = defaults[r.request.preset ?? 'fatezero'] / (config.steps as number);
      return r.endToEndSeconds + ((s.inversion ?? 0) + (s.edit ?? 0)) * (scale - 1);
    };
    const base = estimate(fz);
    for (const r of rows) lines.push(`- ${r.name}: ~${estimate(r).toFixed(0)} s, ~${(base / estimate(r)).toFixed(2)}x over fatezero`);
    lines.push('');
    lines.push(`Targets: at ${config.steps} steps the fixed costs (VAE, graph-independent stages) dominate and every preset stores only those steps' maps, so the`);
    lines.push('measured speed-ups, store bytes and RSS of this profile are not the targets\' quantities; the speed targets are judged on the estimates:');
    const check = (ok: boolean) => (ok ? 'met (estimate)' : '**not met (estimate)**');
    lines.push(`- optimized >= 2.5x faster than fatezero: ~${(base / estimate(opt)).toFixed(2)}x, ${check(base / estimate(opt) >= 2.5)}`);
    lines.push(`- ocd >= 4x faster than fatezero: ~${(base / estimate(ocd)).toFixed(2)}x, ${check(base / estimate(ocd) >= 4)}`);
    return lines.join('\n');
  }
  const check = (ok: boolean) => (ok ? 'met' : '**not met**');
  if (config.fatezeroProfileSteps) {
    lines.push('');
    lines.push(`fatezero ran ${config.fatezeroProfileSteps} steps; its end to end (and every speed-up) uses the estimate at ${FATEZERO_DEFAULT_STEPS} steps: measured + (inversion + edit) x (${FATEZERO_DEFAULT_STEPS}/${config.fatezeroProfileSteps} - 1).`);
    const c = result.estimateCheck;
    if (c) lines.push(`Estimate check: ${c.profileSteps}-step profile estimates ${c.estimated.toFixed(1)} s; the full ${FATEZERO_DEFAULT_STEPS}-step run measured ${c.measured.toFixed(1)} s (${((c.estimated / c.measured - 1) * 100).toFixed(1)}%).`);
  }
  lines.push('');
  lines.push('Targets (issue 3, measured in this run):');
  lines.push(`- optimized >= 2.5x faster than fatezero: ${opt.speedup.toFixed(2)}x, ${check(opt.speedup >= 2.5)}`);
  lines.push(`- ocd >= 4x faster than fatezero: ${ocd.speedup.toFixed(2)}x, ${check(ocd.speedup >= 4)}`);
  if (config.fatezeroProfileSteps) {
    lines.push('- store bytes and peak RSS against fatezero: not comparable here (fatezero ran a short profile, which stores fewer steps)');
  } else {
    const storeRatio = ocd.out.report.attentionStore.bytes / fz.out.report.attentionStore.bytes;
    lines.push(`- ocd attention-store bytes <= 1/10 of fatezero's: ${(storeRatio * 100).toFixed(1)}%, ${check(storeRatio <= 0.1)}`);
    const rssRatio = ocd.out.report.peakRssBytes / fz.out.report.peakRssBytes;
    lines.push(`- ocd peak RSS <= 1/2 of fatezero's: ${(rssRatio * 100).toFixed(1)}%, ${check(rssRatio <= 0.5)}`);
  }
  if (opt.backgroundError !== null && ocd.backgroundError !== null) {
    lines.push(`- ocd background error within 10% of optimized's: ${fmt(ocd.backgroundError, 4)} vs ${fmt(opt.backgroundError, 4)} (${((ocd.backgroundError / opt.backgroundError - 1) * 100).toFixed(1)}%), ${check(ocd.backgroundError <= 1.1 * opt.backgroundError)}`);
  }
  if (result.sweep.length > 0) {
    lines.push('');
    lines.push('ocd sweep (background error must stay within 10% of optimized\'s):');
    lines.push('');
    lines.push('| setting | end to end (s) | speed-up | UNet calls | bg error | within 10% |');
    lines.push('|---|---|---|---|---|---|');
    for (const r of [ocd, ...result.sweep]) {
      const ok = opt.backgroundError === null || (r.backgroundError !== null && r.backgroundError <= 1.1 * opt.backgroundError);
      lines.push(`| ${knobsOf(r)} | ${r.endToEndSeconds.toFixed(2)} | ${r.speedup.toFixed(2)}x | ${r.out.report.unetCalls} | ${fmt(r.backgroundError, 4)} | ${ok ? 'yes' : 'no'} |`);
    }
    lines.push('');
    lines.push(result.bestSweep ? `Fastest ocd setting within 10%: ${knobsOf(result.bestSweep)}, ${result.bestSweep.speedup.toFixed(2)}x over fatezero.` : 'No ocd setting stayed within 10% of optimized\'s background error.');
  }
  return lines.join('\n');
}

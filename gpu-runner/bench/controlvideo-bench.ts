/**
 * The ControlVideo benchmark (issue 13 item 7): `controlvideo`, `controlvideo-optimized` and `controlvideo-ocd` at
 * their defaults on one clip with canny control, each in its own process (engine-run.ts), then the same `ocd` preset
 * on a clip of `longFrames` frames (the hierarchical sampler) to compare its peak RSS with the one-pass run.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { EditRequest, Preset } from '../../shared/edit-request.ts';
import type { ClipEntry } from './engine-bench.ts';
import type { RunOutput, RunSpec } from './engine-run.ts';

const run = promisify(execFile);
const RUNNER = join(dirname(fileURLToPath(import.meta.url)), 'engine-run.ts');

export interface ControlVideoBenchConfig {
  readonly label: string;
  readonly modelDir: string;
  readonly controlnetDir: string;
  readonly cacheDir: string;
  readonly clipsDir: string;
  readonly clip: ClipEntry;
  readonly frames: number;
  /** frames of the long-clip run (hierarchical sampler); 0 skips it */
  readonly longFrames: number;
  readonly size: number;
  readonly workDir: string;
  /** override steps of every preset (profiling only; null = the presets' defaults) */
  readonly steps?: number | null;
  readonly log?: (line: string) => void;
}

export interface ControlVideoRow {
  name: string;
  frames: number;
  out: RunOutput;
  endToEndSeconds: number;
  speedup: number;
}

const PRESETS: readonly Preset[] = ['controlvideo', 'controlvideo-optimized', 'controlvideo-ocd'];

async function runOne(config: ControlVideoBenchConfig, name: string, request: EditRequest): Promise<RunOutput> {
  const outDir = join(config.workDir, 'controlvideo', name);
  mkdirSync(outDir, { recursive: true });
  const spec: RunSpec = { modelDir: config.modelDir, cacheDir: config.cacheDir, clipPath: join(config.clipsDir, config.clip.file), request, outDir, controlnetDir: config.controlnetDir };
  const { stdout } = await run(process.execPath, ['--import', 'tsx', RUNNER, JSON.stringify(spec)], { maxBuffer: 64 * 2 ** 20 });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`bench run ${name} printed no RESULT line`);
  return JSON.parse(line.slice('RESULT '.length)) as RunOutput;
}

/** End to end: every stage the report times, graph building and session creation left out. */
function endToEnd(out: RunOutput): number {
  return Object.entries(out.report.stages).reduce((sum, [stage, s]) => (stage === 'load' ? sum : sum + (s ?? 0)), 0);
}

/** Runs the three presets (and the long clip) and returns one row each, speed-ups over `controlvideo`. */
export async function benchControlVideo(config: ControlVideoBenchConfig): Promise<ControlVideoRow[]> {
  const base = { sourcePrompt: config.clip.source_prompt, targetPrompt: config.clip.edits[0].target_prompt, size: config.size };
  const steps = config.steps ? { sampler: { steps: config.steps } } : {};
  const runs: { name: string; frames: number; request: EditRequest }[] = PRESETS.map((preset) => ({ name: preset, frames: config.frames, request: { ...base, ...steps, preset, frames: { count: config.frames } } }));
  if (config.longFrames > 0) {
    runs.push({ name: `controlvideo-ocd, ${config.longFrames} frames`, frames: config.longFrames, request: { ...base, ...steps, preset: 'controlvideo-ocd', frames: { count: config.longFrames, selection: 'spread' } } });
  }
  const rows: ControlVideoRow[] = [];
  for (const r of runs) {
    config.log?.(`bench controlvideo: ${r.name}`);
    const out = await runOne(config, r.name.replace(/[^a-z0-9]+/gi, '-'), r.request);
    rows.push({ name: r.name, frames: r.frames, out, endToEndSeconds: endToEnd(out), speedup: 0 });
  }
  const baseline = rows[0].endToEndSeconds;
  for (const row of rows) row.speedup = baseline / row.endToEndSeconds;
  return rows;
}

/** The markdown table of a ControlVideo bench. */
export function formatControlVideoBench(config: ControlVideoBenchConfig, rows: readonly ControlVideoRow[]): string {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const lines = [
    `### ${config.label}: ${config.clip.id}, ${config.size} px, canny control, ${config.steps ? `${config.steps} steps (profile)` : "presets' default steps"}`,
    '',
    '| preset | frames | ran as | end to end | speed-up | edit | unet calls | token-steps (of controlvideo) | peak RSS | RSS vs controlvideo | graph load |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const rss = rows[0].out.report.peakRssBytes;
  for (const row of rows) {
    const r = row.out.report;
    lines.push(`| ${row.name} | ${row.out.frames} | ${r.ranAs} | ${row.endToEndSeconds.toFixed(1)} s | ${row.speedup.toFixed(2)}x | ${(r.stages.edit ?? 0).toFixed(1)} s | ${r.unetCalls} | ${(r.tokenStepsRelative * 100).toFixed(1)}% | ${mib(r.peakRssBytes)} | ${(r.peakRssBytes / rss).toFixed(2)} | ${row.out.loadSeconds.toFixed(1)} s |`);
  }
  return lines.join('\n');
}

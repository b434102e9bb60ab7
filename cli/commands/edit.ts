/**
 * `ocd edit <video> --source "..." --target "..."`: edit a clip on this machine and write the output, a side-by-side
 * preview and report.json, with a progress bar and a timing table.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EditKnobsSchema, type EditRequest } from '../../shared/edit-request.ts';
import { editVideoFile, formatTimingTable, loadEditModel, resolveOptions } from '../../gpu-runner/engine/index.ts';
import { resolveCacheDir } from '../../gpu-runner/models/bundle/cache-dir.ts';
import { ensureTinyBundle } from '../../gpu-runner/models/bundle/tiny.ts';
import { parseDevice } from '../../gpu-runner/runtime/providers.ts';
import { ProgressBar } from '../progress.ts';
import { deepMerge, parseSetOverrides } from '../set-options.ts';

export const summary = 'edit a video locally: ocd edit <video> --source "..." --target "..." [--preset ocd|optimized|fatezero]';

const USAGE = `usage: ocd edit <video> --source "<what the clip shows>" --target "<what it should show>" [options]

options:
  --preset ocd|optimized|fatezero   defaults to apply (ocd)
  --blend-words SRC[:TGT]           words marking the edited object, comma-separated, e.g. "jeep:car"
  --mask <video>                    mask video (white = edit); sets ocd.mask to 'video'
  --frames N                        frames to edit (8)
  --size N                          working size of the short side, a multiple of 64 (the model's default)
  --steps N                         denoising (and inversion) steps
  --guidance G                      classifier-free guidance (7.5)
  --seed N                          random seed (0)
  --model <dir>                     diffusers SD1.x folder (default: the tiny random bundle, generated on first use)
  --out <file>                      output video (default: <video name>.edited.mp4 here); preview and report.json beside it
  --set key=value                   any knob, e.g. --set ocd.gamma=0.6 --set tome.ratio=[0.75,0.5] (repeatable)
  --provider cpu|cuda               onnxruntime device (cpu)
  --threads N                       threads per op
  --cache-dir <dir>                 graph/model cache (.cache/ under the repository)`;

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULT_BPE_GZ = resolve(REPO_ROOT, '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be a whole number, got '${value}'.`);
  return n;
}

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${value}'.`);
  return n;
}

/** "silver,jeep:Porsche,car" -> { source: [silver, jeep], target: [Porsche, car] }. */
export function parseBlendWords(value: string): { source: string[]; target: string[] } {
  const [src, tgt] = value.split(':');
  const list = (s: string | undefined) => (s ?? '').split(',').map((w) => w.trim()).filter(Boolean);
  const source = list(src);
  const target = tgt === undefined ? source : list(tgt);
  if (source.length === 0 || target.length === 0) throw new Error(`--blend-words expects SRC[:TGT] with comma-separated words, e.g. "jeep:car"; got '${value}'.`);
  return { source, target };
}

/** Builds the edit request from the command line (flags, then --set overrides). */
export function requestFromArgs(values: Record<string, string | string[] | boolean | undefined>): EditRequest {
  const str = (k: string) => values[k] as string | undefined;
  if (!str('source') || !str('target')) throw new Error('--source and --target are required (what the clip shows, and what it should show).');
  const steps = integer('steps', str('steps'));
  let request: Record<string, unknown> = { sourcePrompt: str('source'), targetPrompt: str('target') };
  if (str('preset')) request.preset = str('preset');
  if (str('seed') !== undefined) request.seed = integer('seed', str('seed'));
  if (str('frames') !== undefined) request.frames = { count: integer('frames', str('frames')) };
  if (str('size') !== undefined) request.size = integer('size', str('size'));
  const sampler: Record<string, unknown> = {};
  if (steps !== undefined) sampler.steps = steps;
  if (str('guidance') !== undefined) sampler.guidance = number('guidance', str('guidance'));
  if (Object.keys(sampler).length > 0) request.sampler = sampler;
  if (str('blend-words')) request.fusion = { blendWords: parseBlendWords(str('blend-words') as string) };
  request = deepMerge(request, parseSetOverrides((values.set as string[] | undefined) ?? []));
  const parsed = EditKnobsSchema.safeParse(request);
  if (!parsed.success) {
    throw new Error(`invalid options: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        source: { type: 'string' }, target: { type: 'string' }, preset: { type: 'string' }, 'blend-words': { type: 'string' },
        mask: { type: 'string' }, frames: { type: 'string' }, size: { type: 'string' }, steps: { type: 'string' },
        guidance: { type: 'string' }, seed: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' },
        set: { type: 'string', multiple: true }, provider: { type: 'string' }, threads: { type: 'string' },
        'cache-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    console.error(`ocd edit: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`ocd edit: expected one input video, got ${positionals.length}.\n\n${USAGE}`);
    return 2;
  }
  const input = resolve(positionals[0]);
  if (!existsSync(input)) {
    console.error(`ocd edit: ${input} does not exist.`);
    return 2;
  }
  let options;
  let provider;
  try {
    const request = requestFromArgs(values);
    if (values.mask && !existsSync(values.mask)) throw new Error(`--mask ${values.mask} does not exist.`);
    options = resolveOptions(request, { hasMaskVideo: !!values.mask });
    provider = parseDevice(values.provider ?? 'cpu');
  } catch (error) {
    console.error(`ocd edit: ${(error as Error).message}`);
    return 2;
  }
  const outPath = resolve(values.out ?? `${basename(input, extname(input))}.edited.mp4`);
  const outDir = join(dirname(outPath), `${basename(outPath, extname(outPath))}.files`);
  const cacheDir = resolveCacheDir(values['cache-dir']);
  const bar = new ProgressBar();
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  try {
    bar.update({ stage: 'loading model', fraction: 0 });
    const modelDir = values.model ? resolve(values.model) : ensureTinyBundle({ cacheDir, bpeVocabGzPath: DEFAULT_BPE_GZ });
    const model = await loadEditModel(modelDir, { provider, cacheDir, threads: integer('threads', values.threads) });
    const N = options.sampler.steps;
    try {
      const result = await editVideoFile({
        inputPath: input,
        maskPath: values.mask ? resolve(values.mask) : undefined,
        outDir,
        options,
        model,
        signal: abort.signal,
        onProgress: (p) => {
          // inversion and editing are N steps each; decode/encode are short
          const done = p.stage === 'inversion' ? p.step : p.stage === 'edit' ? N + p.step : p.stage === 'encode' ? 2 * N : 0;
          bar.update({ stage: p.stage, step: p.step, steps: p.steps, fraction: done / (2 * N) });
        },
      });
      const { renameSync, copyFileSync } = await import('node:fs');
      try {
        renameSync(result.outputPath, outPath);
      } catch {
        copyFileSync(result.outputPath, outPath);
      }
      bar.done(`wrote ${outPath}\n  preview ${result.previewPath}\n  report  ${result.reportPath}`);
      if (result.report.note) console.log(`note: ${result.report.note}`);
      console.log(formatTimingTable(result.report));
      return 0;
    } finally {
      await model.dispose();
    }
  } catch (error) {
    bar.done('');
    const code = (error as { code?: string }).code;
    console.error(`ocd edit: ${code ? `[${code}] ` : ''}${(error as Error).message}`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
  }
}

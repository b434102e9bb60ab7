/**
 * `ocd edit <video> --source "..." --target "..."`: edit a clip on this machine and write the output, a side-by-side
 * preview and report.json, with a progress bar and a timing table.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EditKnobsSchema, type EditRequest } from '../../shared/edit-request.ts';
import { editVideoFile, formatTimingTable, loadEditModel, resolveOptions } from '../../gpu-runner/engine/index.ts';
import { describeRun } from '../../gpu-runner/engine/report.ts';
import { resolveCacheDir } from '../../gpu-runner/models/bundle/cache-dir.ts';
import { parseProviderSetting } from '../../gpu-runner/runtime/providers.ts';
import { defaultModelDir } from '../../gpu-runner/toy-world/model.ts';
import { ProgressBar } from '../progress.ts';
import { EDIT_FLAG_OPTIONS, EDIT_FLAGS_HELP, knobsFromFlags } from '../edit-flags.ts';

export { parseBlendWords } from '../edit-flags.ts';

export const summary = 'edit a video locally: ocd edit <video> --source "..." --target "..." [--preset ocd|optimized|fatezero|controlvideo-ocd|...]';

export const usage = `usage: ocd edit <video> --source "<what the clip shows>" --target "<what it should show>" [options]

options:
${EDIT_FLAGS_HELP}
  --mask <video>                    mask video (white = edit); sets ocd.mask to 'video'
  --control-video <video>           ControlVideo: the control maps (depth, pose, line-art: what the ControlNet
                                    expects), one per frame of the clip; sets --control video
  --controlnet <dir>                ControlVideo: a diffusers ControlNetModel folder (default: OCD_CONTROLNET_DIR)
  --model <dir>                     diffusers SD1.x folder (default: OCD_MODEL_DIR, else the embedded toy model)
  --out <file>                      output video (default: <video name>.edited.mp4 here); the side-by-side preview
                                    (input | mask | output; ControlVideo: input | control | mask | output) and
                                    report.json go to <out name>.files/ beside it
  --provider cpu|cuda|webgpu|auto   onnxruntime device (cpu); auto takes the first that works
  --threads N                       threads per op
  --cache-dir <dir>                 graph/model cache (.cache/ under the repository)`;


/** Builds the edit request from the command line (flags, then --set overrides). */
export function requestFromArgs(values: Parameters<typeof knobsFromFlags>[0]): EditRequest {
  const parsed = EditKnobsSchema.safeParse(knobsFromFlags(values));
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
        ...EDIT_FLAG_OPTIONS,
        mask: { type: 'string' }, 'control-video': { type: 'string' }, controlnet: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' }, provider: { type: 'string' }, threads: { type: 'string' },
        'cache-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    console.error(`ocd edit: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`ocd edit: expected one input video, got ${positionals.length}.\n\n${usage}`);
    return 2;
  }
  const input = resolve(positionals[0]);
  if (!existsSync(input)) {
    console.error(`ocd edit: ${input} does not exist.`);
    return 2;
  }
  let options;
  let provider;
  let threads: number | undefined;
  try {
    const request = requestFromArgs(values);
    if (values.mask && !existsSync(values.mask)) throw new Error(`--mask ${values.mask} does not exist.`);
    const controlVideo = values['control-video'];
    if (controlVideo && !existsSync(controlVideo)) throw new Error(`--control-video ${controlVideo} does not exist.`);
    options = resolveOptions(request, { hasMaskVideo: !!values.mask, hasControlVideo: !!controlVideo });
    if (options.editor === 'controlvideo' && !(values.controlnet ?? process.env.OCD_CONTROLNET_DIR)) {
      throw new Error("the 'controlvideo' editor needs a ControlNet: pass --controlnet <dir> (a diffusers ControlNetModel folder, e.g. sd-controlnet-canny) or set OCD_CONTROLNET_DIR.");
    }
    if (options.editor !== 'controlvideo' && controlVideo) throw new Error("--control-video applies to the 'controlvideo' editor only; add --editor controlvideo.");
    provider = parseProviderSetting(values.provider ?? 'cpu');
    threads = values.threads === undefined ? undefined : Number(values.threads);
    if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) throw new Error(`--threads must be a whole number above 0, got '${values.threads}'.`);
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
    const modelDir = resolve(defaultModelDir(values.model ?? process.env.OCD_MODEL_DIR));
    const controlnetDir = options.editor === 'controlvideo' ? resolve((values.controlnet ?? process.env.OCD_CONTROLNET_DIR) as string) : undefined;
    const model = await loadEditModel(modelDir, { provider, cacheDir, threads, controlnetDir });
    const N = options.sampler.steps;
    // FateZero inverts then edits (2N steps); ControlVideo only samples (its hierarchical passes report their own total)
    const total = options.editor === 'controlvideo' ? N : 2 * N;
    try {
      const result = await editVideoFile({
        inputPath: input,
        maskPath: values.mask ? resolve(values.mask) : undefined,
        controlPath: values['control-video'] ? resolve(values['control-video']) : undefined,
        outDir,
        options,
        model,
        signal: abort.signal,
        onProgress: (p) => {
          // inversion and editing are N steps each; decode/encode are short
          const fraction = p.stage === 'inversion' ? p.step / total
            : p.stage === 'edit' ? (total - N + (N * p.step) / p.steps) / total
              : p.stage === 'encode' ? 1 : 0;
          bar.update({ stage: p.stage, step: p.step, steps: p.steps, fraction });
        },
      });
      const { renameSync, copyFileSync } = await import('node:fs');
      try {
        renameSync(result.outputPath, outPath);
      } catch {
        copyFileSync(result.outputPath, outPath);
      }
      bar.done(`wrote ${outPath}\n  preview ${result.previewPath}\n  report  ${result.reportPath}`);
      console.log(describeRun(result.report));
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

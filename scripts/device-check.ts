/**
 * The GPU path in one prepared run (issue 12, item 5; driven by scripts/device-check.sh):
 *   1. the provider from the setting (auto: cuda, webgpu, cpu; the first that works), logged with its reason;
 *   2. per latent size and compute type (float32, float16): one UNet call of a random-weight model (SD1.5 configs
 *      on the device) on that provider, timed, and checked against the CPU provider's float32 output;
 *   3. one full `ocd` edit (text, VAE encode, inversion, object-centric editing, VAE decode) on the provider, with
 *      its report and the host traffic per UNet call (what still crosses between host and device).
 * Writes `summary.md` and `result.json` into --out and exits non-zero when a check fails.
 *
 *   tsx scripts/device-check.ts --provider auto --model sd15 --sizes 256,512 --dtypes float32,float16 \
 *       --edit-model sd15 --edit-size 256 --edit-frames 8 --edit-steps 20 --frames-rgb <file> --out <dir>
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { EditRequest } from '../shared/edit-request.ts';
import { CLIP_VOCAB_GZ, CLIPS_DIR } from '../gpu-runner/assets.ts';
import { loadEditModel, resolveOptions, runEdit } from '../gpu-runner/engine/index.ts';
import { saveModel, toFloat16Compute, type GraphModel } from '../gpu-runner/graph/index.ts';
import { SD15_UNET_CONFIG, TINY_UNET_CONFIG } from '../gpu-runner/models/bundle/sd-configs.ts';
import { ensureRandomSD15Bundle } from '../gpu-runner/models/bundle/sd15.ts';
import { ensureTinyBundle } from '../gpu-runner/models/bundle/tiny.ts';
import type { UNetConfig } from '../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../gpu-runner/models/unet/unet.ts';
import { RecordingRandomWeightSource } from '../gpu-runner/models/weights.ts';
import { chooseProvider, describeChoice } from '../gpu-runner/runtime/provider-choice.ts';
import { parseProviderSetting, type Device } from '../gpu-runner/runtime/providers.ts';
import { createSession, disposeAllSessions, hostTraffic, runSession } from '../gpu-runner/runtime/session.ts';
import { float32Tensor, int64Tensor, tensorToFloat32 } from '../gpu-runner/runtime/tensors.ts';

/** Max error relative to the output range allowed against the CPU's float32, per compute type. */
const TOLERANCE = { float32: 1e-3, float16: 2e-2 } as const;
type Compute = keyof typeof TOLERANCE;

interface UNetCheck { size: number; compute: Compute; seconds: number; cpuSeconds: number; relativeError: number; ok: boolean }

const log = (line: string) => console.log(`[device-check ${new Date().toISOString().slice(11, 19)}] ${line}`);

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0, range = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    range = Math.max(range, Math.abs(b[i]));
  }
  return diff / range;
}

/** Times one UNet call on `device` (after one warm-up call) and returns its output. */
async function timedCall(path: string, device: Device, feeds: () => Record<string, ReturnType<typeof float32Tensor>>): Promise<{ out: Float32Array; seconds: number }> {
  const session = await createSession(path, { provider: device });
  await runSession(session, feeds());
  const start = performance.now();
  const out = await runSession(session, feeds());
  const seconds = (performance.now() - start) / 1000;
  const data = Float32Array.from(tensorToFloat32(out.out_sample));
  await session.dispose();
  return { out: data, seconds };
}

async function checkUNet(config: UNetConfig, device: Device, sizes: number[], computes: Compute[], workDir: string): Promise<UNetCheck[]> {
  const checks: UNetCheck[] = [];
  const weights = new RecordingRandomWeightSource(7);
  for (const size of sizes) {
    const latent = size / 8;
    log(`UNet at ${size} px (latent ${latent}x${latent}): building the float32 graph`);
    const fp32: GraphModel = buildUNetGraph(config, weights, { height: latent, width: latent });
    const paths: Record<Compute, string> = {
      float32: saveModel(fp32, join(workDir, `unet-${size}-float32`), 'unet'),
      float16: computes.includes('float16') ? saveModel(toFloat16Compute(fp32), join(workDir, `unet-${size}-float16`), 'unet') : '',
    };
    const n = config.in_channels * latent * latent;
    const sample = seeded(n, size);
    const context = seeded(77 * config.cross_attention_dim, size + 1);
    const feeds = () => ({
      sample: float32Tensor(sample, [1, config.in_channels, latent, latent]),
      timestep: int64Tensor([500], []),
      encoder_hidden_states: float32Tensor(context, [1, 77, config.cross_attention_dim]),
    });
    log(`UNet at ${size} px: CPU float32 reference call`);
    const reference = await timedCall(paths.float32, 'cpu', feeds);
    for (const compute of computes) {
      const run = await timedCall(paths[compute], device, feeds);
      const relative = relativeError(run.out, reference.out);
      const ok = relative <= TOLERANCE[compute];
      checks.push({ size, compute, seconds: run.seconds, cpuSeconds: reference.seconds, relativeError: relative, ok });
      log(`UNet at ${size} px, ${compute} on ${device}: ${run.seconds.toFixed(3)} s (CPU float32 ${reference.seconds.toFixed(3)} s), relative error ${relative.toExponential(2)} (bound ${TOLERANCE[compute]}) ${ok ? 'ok' : 'FAILED'}`);
    }
    rmSync(join(workDir, `unet-${size}-float32`), { recursive: true, force: true });
    rmSync(join(workDir, `unet-${size}-float16`), { recursive: true, force: true });
  }
  return checks;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      provider: { type: 'string', default: 'auto' }, model: { type: 'string', default: 'sd15' }, sizes: { type: 'string', default: '256,512' },
      dtypes: { type: 'string', default: 'float32,float16' }, 'edit-model': { type: 'string', default: 'sd15' }, 'edit-size': { type: 'string', default: '256' },
      'edit-frames': { type: 'string', default: '8' }, 'edit-steps': { type: 'string', default: '20' }, 'edit-compute': { type: 'string', default: 'float16' },
      'frames-rgb': { type: 'string' }, out: { type: 'string', default: 'device-check-out' }, 'cache-dir': { type: 'string' },
    },
  });
  const outDir = values.out as string;
  mkdirSync(outDir, { recursive: true });
  const cacheDir = values['cache-dir'] ?? mkdtempSync(join(tmpdir(), 'device-check-'));
  const choice = await chooseProvider(parseProviderSetting(values.provider as string));
  log(`provider: ${describeChoice(choice)}`);
  const unetConfig = (values.model === 'tiny' ? TINY_UNET_CONFIG : SD15_UNET_CONFIG) as UNetConfig;
  const sizes = (values.sizes as string).split(',').map(Number);
  const computes = (values.dtypes as string).split(',') as Compute[];
  const unet = await checkUNet(unetConfig, choice.device, sizes, computes, cacheDir);
  await disposeAllSessions();

  // one full ocd edit on the provider
  const editSize = Number(values['edit-size']);
  const frames = Number(values['edit-frames']);
  const steps = Number(values['edit-steps']);
  const manifest = JSON.parse(readFileSync(join(CLIPS_DIR, 'manifest.json'), 'utf8')) as { id: string; source_prompt: string; edits: { target_prompt: string; blend_words: [string[], string[]] | null }[] }[];
  const clip = manifest.find((c) => c.id === 'car-turn') ?? manifest[0];
  const edit = clip.edits.find((e) => e.blend_words) ?? clip.edits[0];
  const raw = values['frames-rgb'] ? readFileSync(values['frames-rgb']) : null;
  const per = editSize * editSize * 3;
  if (raw && raw.length < frames * per) throw new Error(`--frames-rgb holds ${raw.length} bytes; ${frames} frames of ${editSize}x${editSize} RGB need ${frames * per}`);
  // without decoded frames (no ffmpeg on the device) a smooth synthetic clip stands in
  const input = Array.from({ length: frames }, (_, f) => (raw ? new Uint8Array(raw.buffer, raw.byteOffset + f * per, per) : Uint8Array.from({ length: per }, (_, i) => (i * 7 + f * 13) % 256)));
  const modelDir = values['edit-model'] === 'tiny'
    ? ensureTinyBundle({ cacheDir, bpeVocabGzPath: CLIP_VOCAB_GZ })
    : ensureRandomSD15Bundle({ cacheDir, bpeVocabGzPath: CLIP_VOCAB_GZ });
  log(`ocd edit: ${values['edit-model']} bundle, ${frames} frames at ${editSize} px, ${steps} steps, ${values['edit-compute']} on ${choice.device}`);
  const loadStart = performance.now();
  const model = await loadEditModel(modelDir, { provider: choice.device, cacheDir, compute: values['edit-compute'] as Compute, attentionQueryChunk: editSize >= 512 ? 1024 : undefined });
  const request: EditRequest = {
    sourcePrompt: clip.source_prompt, targetPrompt: edit.target_prompt, preset: 'ocd', frames: { count: frames }, size: editSize,
    sampler: { steps }, inversion: { steps }, ocd: { mask: 'auto' },
    ...(edit.blend_words ? { fusion: { blendWords: { source: edit.blend_words[0], target: edit.blend_words[1] } } } : {}),
  };
  const before = hostTraffic();
  const result = await runEdit({ input: { frames: input, width: editSize, height: editSize }, options: resolveOptions(request, { hasMaskVideo: false }), model });
  const after = hostTraffic();
  const seconds = (performance.now() - loadStart) / 1000;
  await model.dispose();
  const calls = result.report.unetCalls;
  const perCall = { feedMiB: (after.feedBytes - before.feedBytes) / calls / 2 ** 20, outputMiB: (after.outputBytes - before.outputBytes) / calls / 2 ** 20 };
  const finite = result.frames.every((f) => f.length === per);
  log(`ocd edit: ran as ${result.report.ranAs}, ${calls} UNet calls, ${seconds.toFixed(1)} s with graph builds; stages ${JSON.stringify(result.report.stages)}`);
  log(`ocd edit: host traffic per UNet call: ${perCall.feedMiB.toFixed(2)} MiB fed, ${perCall.outputMiB.toFixed(2)} MiB returned; peak RSS ${(result.report.peakRssBytes / 2 ** 20).toFixed(0)} MiB; provider ${result.report.model.provider}`);

  const ok = unet.every((c) => c.ok) && finite && calls > 0;
  const summary = [
    `## Device check (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
    '',
    `- provider: ${describeChoice(choice)}`,
    `- UNet model: ${values.model} configs, random weights, batch 1, timestep 500; reference: CPU provider, float32`,
    '',
    '| size (px) | compute | device call (s) | CPU float32 call (s) | relative max error | bound | result |',
    '|---|---|---|---|---|---|---|',
    ...unet.map((c) => `| ${c.size} | ${c.compute} | ${c.seconds.toFixed(3)} | ${c.cpuSeconds.toFixed(3)} | ${c.relativeError.toExponential(2)} | ${TOLERANCE[c.compute]} | ${c.ok ? 'ok' : '**failed**'} |`),
    '',
    `- ocd edit (${values['edit-model']} bundle, ${frames} frames, ${editSize} px, ${steps} steps, ${values['edit-compute']}): ran as ${result.report.ranAs}, ${calls} UNet calls, ` +
      `inversion ${result.report.stages.inversion?.toFixed(1)} s, edit ${result.report.stages.edit?.toFixed(1)} s, graph load ${(result.report.stages.load ?? 0).toFixed(1)} s, peak RSS ${(result.report.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    `- host traffic per UNet call in that edit: ${perCall.feedMiB.toFixed(2)} MiB fed, ${perCall.outputMiB.toFixed(2)} MiB returned`,
    `- overall: ${ok ? 'passed' : '**FAILED**'}`,
  ].join('\n');
  writeFileSync(join(outDir, 'summary.md'), `${summary}\n`);
  writeFileSync(join(outDir, 'result.json'), `${JSON.stringify({ provider: choice, unet, edit: { report: result.report, hostTrafficPerCall: perCall, seconds } }, null, 2)}\n`);
  console.log(summary);
  if (!values['cache-dir']) rmSync(cacheDir, { recursive: true, force: true });
  return ok ? 0 : 1;
}

process.exitCode = await main();

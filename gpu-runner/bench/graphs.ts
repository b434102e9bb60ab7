/**
 * SD1.5-scale graph benchmark (issue 2): generate (or reuse) a random-weight bundle with SD1.5's exact
 * configs, build the UNet graph with external data, create an onnxruntime session and run one 8-frame call
 * at 256x256 ([8,4,32,32]). Reports build time, session creation time, peak RSS, UNet call time and
 * achieved GFLOP/s (FLOPs counted analytically from the config) next to a plain 2048^3 MatMul measured in
 * the same process, prints a table and writes it into BENCHMARKS.md's "Graphs" section.
 *
 *   npx tsx gpu-runner/bench/graphs.ts [--cache-dir DIR] [--provider cpu|cuda] [--runs N] [--frames 8,1] [--no-write]
 *
 * Each UNet variant runs in its own child process, so its peak RSS is its own (not the bundle
 * generator's or the previous variant's).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GraphBuilder, saveModel, serializeModel } from '../graph/index.ts';
import { loadModelFolder } from '../models/bundle/model-folder.ts';
import { unetParameters } from '../models/bundle/parameters.ts';
import { resolveCacheDir } from '../models/bundle/cache-dir.ts';
import { ensureRandomSD15Bundle } from '../models/bundle/sd15.ts';
import { buildUNetGraph } from '../models/unet/unet.ts';
import { CLIP_VOCAB_GZ } from '../assets.ts';
import { parseUNetConfig } from '../models/unet/config.ts';
import { parseDevice, type Device } from '../runtime/providers.ts';
import { createSession, runSession } from '../runtime/session.ts';
import { float32Tensor, int64Tensor } from '../runtime/tensors.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BENCHMARKS_FILE = join(REPO_ROOT, 'BENCHMARKS.md');
const SECTION_HEADER = '## Graphs (issue 2)';

/** Working size of the benchmark: 8 frames of 256x256 video -> latents [8, 4, 32, 32]. */
const BATCH = 8;
const LATENT = 32;
const TEXT_TOKENS = 77;

const GIB = 1024 ** 3;

/** Peak resident set size of this process so far, in bytes. */
function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The latent level (0 = full resolution) a UNet parameter works at, from its diffusers name. */
function levelOf(name: string, blocks: number): number {
  const down = /^down_blocks\.(\d+)\.(\w+)/.exec(name);
  if (down) return Number(down[1]) + (down[2] === 'downsamplers' ? 1 : 0);
  const up = /^up_blocks\.(\d+)\.(\w+)/.exec(name);
  if (up) return blocks - 1 - Number(up[1]) - (up[2] === 'upsamplers' ? 1 : 0);
  return name.startsWith('mid_block') ? blocks - 1 : 0;
}

/** FLOPs of one UNet call, split by kind. */
export interface UNetFlops {
  readonly conv: number;
  readonly linear: number;
  readonly attention: number;
  readonly total: number;
}

/**
 * Counts the multiply-adds (x2) of one UNet call from the config: every conv and linear weight times the
 * positions it is applied to, plus the two attention matmuls (QK^T and AV) of each attention layer. Norms,
 * activations and softmax are left out (well under 1%).
 *
 * @param crossFrameMinChannels when frames > 1, self-attention keys/values in blocks this wide come from
 *   the group's middle frame, so their K/V projections run on one frame per group.
 */
export function countUNetFlops(configJson: unknown, batch: number, height: number, width: number, frames = 1, crossFrameMinChannels = Infinity): UNetFlops {
  const config = parseUNetConfig(configJson);
  const blocks = config.block_out_channels.length;
  const positions = (level: number): number => (height >> level) * (width >> level);
  let conv = 0;
  let linear = 0;
  let attention = 0;
  for (const p of unetParameters(config)) {
    if (!p.name.endsWith('.weight') || p.shape.length < 2) continue;
    const weightSize = p.shape.reduce((n, d) => n * d, 1);
    if (p.name.startsWith('time_embedding') || p.name.includes('time_emb_proj')) {
      linear += 2 * weightSize * batch;
      continue;
    }
    const level = levelOf(p.name, blocks);
    const tokens = positions(level);
    if (p.shape.length === 4) {
      conv += 2 * weightSize * tokens * batch;
      continue;
    }
    const channels = p.shape[0];
    const crossFrame = frames > 1 && channels >= crossFrameMinChannels;
    if (/attn2\.to_[kv]\.weight$/.test(p.name)) linear += 2 * weightSize * TEXT_TOKENS * batch;
    else if (/attn1\.to_[kv]\.weight$/.test(p.name)) linear += 2 * weightSize * tokens * (crossFrame ? batch / frames : batch);
    else linear += 2 * weightSize * tokens * batch;
    // QK^T and AV: 2 matmuls of tokens x keys x channels per frame.
    if (p.name.endsWith('attn1.to_q.weight')) attention += 2 * 2 * tokens * tokens * channels * batch;
    if (p.name.endsWith('attn2.to_q.weight')) attention += 2 * 2 * tokens * TEXT_TOKENS * channels * batch;
  }
  return { conv, linear, attention, total: conv + linear + attention };
}

/** A 2048^3 MatMul in its own session: the machine's practical dense-FLOP ceiling for this runtime. */
async function measureMatMul(dir: string, provider: Device, runs: number): Promise<{ ms: number; gflops: number }> {
  const n = 2048;
  const g = new GraphBuilder({ name: 'matmul' });
  const a = g.input('a', 'float32', [n, n]);
  const b = g.input('b', 'float32', [n, n]);
  g.output(g.matMul(a, b), 'c', 'float32', [n, n]);
  const path = join(dir, 'matmul.onnx');
  writeFileSync(path, serializeModel(g.build()));
  const session = await createSession(path, { provider });
  const data = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const feeds = { a: float32Tensor(data, [n, n]), b: float32Tensor(data, [n, n]) };
  await runSession(session, feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await runSession(session, feeds);
    times.push(performance.now() - started);
  }
  await session.dispose();
  const ms = median(times);
  return { ms, gflops: (2 * n ** 3) / (ms / 1000) / 1e9 };
}

/** One UNet variant's measurements. */
interface UNetResult {
  readonly frames: number;
  readonly buildSeconds: number;
  readonly buildPeakRssGiB: number;
  readonly onnxBytes: number;
  readonly sessionSeconds: number;
  readonly sessionPeakRssGiB: number;
  readonly callMs: number[];
  readonly flops: UNetFlops;
  /** The 2048^3 MatMul measured in the same process right after the UNet calls. */
  readonly matmul: { ms: number; gflops: number };
}

async function measureUNet(bundleDir: string, workDir: string, frames: number, provider: Device, runs: number): Promise<UNetResult> {
  const graphDir = join(workDir, `unet-f${frames}`);
  rmSync(graphDir, { recursive: true, force: true });
  const model = loadModelFolder(bundleDir);
  const origin = join(model.unet.dir, 'config.json');
  const config = model.unet.config;
  const crossFrameMinChannels = config.block_out_channels[1];

  // 1. build with external data
  let started = performance.now();
  const graph = buildUNetGraph(config, model.unet.weights, { height: LATENT, width: LATENT, frames, origin, crossFrameMinChannels });
  const onnxPath = saveModel(graph, graphDir, 'unet');
  const buildSeconds = (performance.now() - started) / 1000;
  const buildPeakRssGiB = peakRssBytes() / GIB;
  model.dispose();
  const onnxBytes = statSync(onnxPath).size + statSync(`${onnxPath}.data`).size;

  // 2. session
  started = performance.now();
  const session = await createSession(onnxPath, { provider });
  const sessionSeconds = (performance.now() - started) / 1000;

  // 3. one 8-frame call: a warm-up, then `runs` timed calls
  const feeds = {
    sample: float32Tensor(Float32Array.from({ length: BATCH * 4 * LATENT * LATENT }, (_, i) => Math.sin(i * 0.37)), [BATCH, 4, LATENT, LATENT]),
    timestep: int64Tensor([981], []),
    encoder_hidden_states: float32Tensor(Float32Array.from({ length: BATCH * TEXT_TOKENS * 768 }, (_, i) => Math.cos(i * 0.11)), [BATCH, TEXT_TOKENS, 768]),
  };
  await runSession(session, feeds);
  const callMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    started = performance.now();
    await runSession(session, feeds);
    callMs.push(performance.now() - started);
  }
  const sessionPeakRssGiB = peakRssBytes() / GIB;
  await session.dispose();
  rmSync(graphDir, { recursive: true, force: true });
  const matmul = await measureMatMul(workDir, provider, 10);
  return {
    frames, buildSeconds, buildPeakRssGiB, onnxBytes, sessionSeconds, sessionPeakRssGiB, callMs, matmul,
    flops: countUNetFlops(model.unet.config, BATCH, LATENT, LATENT, frames, crossFrameMinChannels),
  };
}

function formatTable(results: readonly UNetResult[], context: Record<string, string>): string {
  const lines = [
    SECTION_HEADER,
    '',
    'SD1.5-config UNet with seeded random weights (`ocd model sd15`, 859,520,964 parameters, fp32), built by our',
    'TypeScript builder with external data, one call on latents [8, 4, 32, 32] (8 frames of 256x256 video) with',
    'a 0-dim timestep and [8, 77, 768] text states. Each graph runs in its own process (so peak RSS is its own),',
    'followed there by a plain 2048³ MatMul. FLOPs are counted analytically from the config (convolutions +',
    'linear layers + attention matmuls). Produced by `npx tsx gpu-runner/bench/graphs.ts`.',
    'Absolute times depend on what else the machine runs (see the load average); the `vs MatMul` column,',
    'measured in the same process, is the comparable figure. The bar (environment.md): the diffusers UNet',
    'exported through torch.onnx ran this call in 3.96 s at 0.84 of the MatMul on an idle machine.',
    '',
    ...Object.entries(context).map(([k, v]) => `- ${k}: ${v}`),
    '',
    '| UNet graph | build (s) | peak RSS of the build (GiB) | .onnx + data (GB) | session create (s) | peak RSS incl. session and calls (GiB) | call median (ms) | calls (ms) | GFLOP per call | GFLOP/s | MatMul 2048³ right after (ms, GFLOP/s) | vs MatMul |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const ms = median(r.callMs);
    const gflop = r.flops.total / 1e9;
    const rate = gflop / (ms / 1000);
    const name = r.frames === 1 ? 'plain 2-D (frames 1)' : `pseudo-3D (frames ${r.frames})`;
    lines.push(`| ${name} | ${r.buildSeconds.toFixed(1)} | ${r.buildPeakRssGiB.toFixed(2)} | ${(r.onnxBytes / 1e9).toFixed(2)} | ${r.sessionSeconds.toFixed(1)} | `
      + `${r.sessionPeakRssGiB.toFixed(2)} | ${ms.toFixed(0)} | ${r.callMs.map((t) => t.toFixed(0)).join(', ')} | ${gflop.toFixed(0)} `
      + `(conv ${(r.flops.conv / 1e9).toFixed(0)}, linear ${(r.flops.linear / 1e9).toFixed(0)}, attention ${(r.flops.attention / 1e9).toFixed(0)}) | `
      + `${rate.toFixed(0)} | ${r.matmul.ms.toFixed(0)}, ${r.matmul.gflops.toFixed(0)} | ${(rate / r.matmul.gflops).toFixed(2)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Replaces (or appends) the Graphs section of BENCHMARKS.md, leaving other sections alone. */
export function writeSection(path: string, section: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    text = '# Benchmarks\n\n';
  }
  const start = text.indexOf(SECTION_HEADER);
  if (start < 0) {
    writeFileSync(path, `${text.trimEnd()}\n\n${section}`);
    return;
  }
  const next = text.indexOf('\n## ', start + SECTION_HEADER.length);
  const end = next < 0 ? text.length : next + 1;
  writeFileSync(path, `${text.slice(0, start)}${section}${next < 0 ? '' : '\n'}${text.slice(end)}`);
}

const CHILD_RESULT_PREFIX = 'UNET_RESULT ';

/** Runs `measureUNet` in a fresh process (same loader flags) and parses its result line. */
function measureUNetInChild(bundleDir: string, workDir: string, frames: number, provider: Device, runs: number): UNetResult {
  const stdout = execFileSync(process.execPath, [
    ...process.execArgv, fileURLToPath(import.meta.url),
    '--child-bundle', bundleDir, '--child-work', workDir, '--frames', String(frames), '--provider', provider, '--runs', String(runs),
  ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 1024 * 1024 });
  const line = stdout.split('\n').find((l) => l.startsWith(CHILD_RESULT_PREFIX));
  if (!line) throw new Error(`benchmark child for frames ${frames} printed no result; its output:\n${stdout}`);
  return JSON.parse(line.slice(CHILD_RESULT_PREFIX.length)) as UNetResult;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'cache-dir': { type: 'string' }, provider: { type: 'string' }, runs: { type: 'string' },
      frames: { type: 'string' }, bpe: { type: 'string' }, 'no-write': { type: 'boolean' },
      'child-bundle': { type: 'string' }, 'child-work': { type: 'string' },
    },
  });
  const provider = parseDevice(values.provider ?? 'cpu');
  const runs = Number(values.runs ?? 3);
  if (values['child-bundle'] && values['child-work']) {
    const result = await measureUNet(values['child-bundle'], values['child-work'], Number(values.frames), provider, runs);
    console.log(`${CHILD_RESULT_PREFIX}${JSON.stringify(result)}`);
    return 0;
  }
  const framesList = (values.frames ?? '8,1').split(',').map(Number);
  const loadAtStart = loadavg()[0];
  const cacheDir = resolveCacheDir(values['cache-dir']);
  const workDir = join(cacheDir, 'bench-graphs');
  mkdirSync(workDir, { recursive: true });

  const started = performance.now();
  const bundleDir = ensureRandomSD15Bundle({ cacheDir, bpeVocabGzPath: values.bpe ?? CLIP_VOCAB_GZ });
  const bundleSeconds = (performance.now() - started) / 1000;
  const weightsBytes = statSync(join(bundleDir, 'unet/diffusion_pytorch_model.safetensors')).size;
  console.log(`SD1.5 random bundle ready in ${bundleSeconds.toFixed(1)} s: ${bundleDir} (UNet weights ${(weightsBytes / 1e9).toFixed(2)} GB)`);

  const results: UNetResult[] = [];
  for (const frames of framesList) {
    const result = measureUNetInChild(bundleDir, workDir, frames, provider, runs);
    console.log(`frames ${frames}: build ${result.buildSeconds.toFixed(1)} s, session ${result.sessionSeconds.toFixed(1)} s, calls ${result.callMs.map((t) => t.toFixed(0)).join(', ')} ms`);
    results.push(result);
  }
  const section = formatTable(results, {
    machine: `${cpus().length} vCPU (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / GIB).toFixed(0)} GiB, Node ${process.version}, onnxruntime-node 1.30.0, provider ${provider}, default threads`,
    'UNet weights file': `${(weightsBytes / 1e9).toFixed(2)} GB (peak RSS must stay under 2x = ${((2 * weightsBytes) / GIB).toFixed(2)} GiB)`,
    'bundle generation': bundleSeconds > 1 ? `${bundleSeconds.toFixed(0)} s (first run; cached afterwards)` : 'cached',
    'load average (1 min) at start / end': `${loadAtStart.toFixed(1)} / ${loadavg()[0].toFixed(1)} on ${cpus().length} vCPU`,
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  });
  console.log(`\n${section}`);
  if (!values['no-write']) writeSection(BENCHMARKS_FILE, section);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}

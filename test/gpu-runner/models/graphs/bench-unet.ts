/**
 * UNet speed bench (not a test): builds our UNet graph with seeded random weights, saves it with external data,
 * and times onnxruntime CPU runs.
 *
 *   npx tsx test/gpu-runner/models/graphs/bench-unet.ts --model tiny|sd15 --frames 8 --latent 32 --attention fused|explicit --runs 5
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { saveModel } from '../../../../gpu-runner/graph/index.ts';
import { SD15_UNET_CONFIG } from '../../../../gpu-runner/models/bundle/sd-configs.ts';
import { loadUNetConfig, parseUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../../../../gpu-runner/models/unet/unet.ts';
import { RecordingRandomWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { REFERENCE_MODEL_DIR } from '../../../support/paths.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tiny' },
    frames: { type: 'string', default: '8' },
    latent: { type: 'string', default: '32' },
    attention: { type: 'string', default: 'fused' },
    runs: { type: 'string', default: '5' },
    threads: { type: 'string', default: '0' },
    keep: { type: 'boolean', default: false },
    zeros: { type: 'boolean', default: false },
    path: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
});
const frames = Number(values.frames);
const latent = Number(values.latent);
const config = values.model === 'sd15' ? parseUNetConfig(SD15_UNET_CONFIG) : loadUNetConfig(join(REFERENCE_MODEL_DIR, 'unet/config.json'));
const attention = values.attention as 'fused' | 'explicit';
const dir = mkdtempSync(join(tmpdir(), 'bench-unet-'));
const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(2);
const threads = Number(values.threads);

let t0 = performance.now();
let path = values.path;
if (!path) {
  let model: ReturnType<typeof buildUNetGraph> | undefined = buildUNetGraph(config, new RecordingRandomWeightSource(0, { zeros: values.zeros }), { frames, height: latent, width: latent, attention });
  console.log(`build ${seconds(t0)} s (${model.nodes.length} nodes, ${model.initializers.length} initializers)`);
  t0 = performance.now();
  path = saveModel(model, dir, 'unet');
  console.log(`save ${seconds(t0)} s -> ${path}`);
  model = undefined;
  (globalThis as { gc?: () => void }).gc?.();
}

/** Throughput yardstick under the same machine load: a 2048³ MatMul (17.2 GFLOP). */
async function matMulYardstick(): Promise<number> {
  const { GraphBuilder, serializeModel } = await import('../../../../gpu-runner/graph/index.ts');
  const g = new GraphBuilder({ name: 'mm' });
  const a = g.input('a', 'float32', [2048, 2048]);
  const b = g.input('b', 'float32', [2048, 2048]);
  g.output(g.matMul(a, b), 'c', 'float32');
  const s = await ort.InferenceSession.create(serializeModel(g.build()), threads > 0 ? { intraOpNumThreads: threads } : {});
  const m = new ort.Tensor('float32', new Float32Array(2048 * 2048).fill(0.5), [2048, 2048]);
  await s.run({ a: m, b: m });
  const ts: number[] = [];
  for (let i = 0; i < 5; i++) { const t = performance.now(); await s.run({ a: m, b: m }); ts.push(performance.now() - t); }
  await s.release();
  ts.sort((x, y) => x - y);
  return 17.18 / (ts[2] / 1000);
}
console.log(`matmul 2048^3: ${(await matMulYardstick()).toFixed(0)} GFLOP/s (before)`);

t0 = performance.now();
const session = await ort.InferenceSession.create(path, { ...(threads > 0 ? { intraOpNumThreads: threads } : {}), enableProfiling: values.profile, profileFilePrefix: join(dir, 'profile') });
console.log(`session ${seconds(t0)} s`);
const batch = frames;
const sample = new ort.Tensor('float32', Float32Array.from({ length: batch * 4 * latent * latent }, (_, i) => Math.sin(i)), [batch, 4, latent, latent]);
const context = new ort.Tensor('float32', Float32Array.from({ length: batch * 77 * config.cross_attention_dim }, (_, i) => Math.cos(i) * 0.5), [batch, 77, config.cross_attention_dim]);
const timestep = new ort.Tensor('int64', BigInt64Array.from([500n]), []);
const feeds = { sample, timestep, encoder_hidden_states: context };
await session.run(feeds); // warm-up
const times: number[] = [];
for (let i = 0; i < Number(values.runs); i++) {
  t0 = performance.now();
  await session.run(feeds);
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
console.log(`model=${values.model} frames=${frames} latent=${latent} attention=${attention}: median ${(times[times.length >> 1] / 1000).toFixed(3)} s, best ${(times[0] / 1000).toFixed(3)} s over ${times.length} runs; rss ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`);
console.log(`matmul 2048^3: ${(await matMulYardstick()).toFixed(0)} GFLOP/s (after)`);
if (values.profile) console.log(`profile: ${session.endProfiling()} in ${dir}`);
await session.release();
if (!values.profile && (values.path || !values.keep)) rmSync(dir, { recursive: true, force: true });

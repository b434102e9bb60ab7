/**
 * Child process of the resident-sessions test: runs graph variants A, B, A through a `ResidentSessions` set with
 * the given limit and prints the process's peak memory growth (VmHWM from the start), so the parent's own memory
 * (vitest, the graph build) is not in the number.
 *
 *   node --import tsx resident-child.ts '<json {paths, limit, feeds}>'
 */
import { readFileSync } from 'node:fs';
import { ResidentSessions } from '../../../../gpu-runner/runtime/resident-sessions.ts';
import { float32Tensor, int64Tensor, tensorToFloat32 } from '../../../../gpu-runner/runtime/tensors.ts';

interface ChildSpec {
  paths: [string, string];
  /** null = Infinity (JSON has no Infinity) */
  limit: number | null;
  /** frames of each variant, for its feeds */
  frames: [number, number];
  channels: number;
  size: number;
  contextChannels: number;
}

/** Peak resident set (VmHWM) in bytes, from /proc. */
function peakBytes(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('no VmHWM in /proc/self/status');
  return Number(match[1]) * 1024;
}

const spec = JSON.parse(process.argv[2]) as ChildSpec;
const sessions = new ResidentSessions(spec.limit ?? Infinity, { provider: 'cpu', intraOpNumThreads: 1 });
const feeds = (frames: number) => ({
  sample: float32Tensor(new Float32Array(frames * spec.channels * spec.size * spec.size).fill(0.5), [frames, spec.channels, spec.size, spec.size]),
  timestep: int64Tensor([10], []),
  encoder_hidden_states: float32Tensor(new Float32Array(frames * 77 * spec.contextChannels).fill(0.1), [frames, 77, spec.contextChannels]),
});
// warm the runtime (thread pools, kernels registry) with nothing loaded, so the baseline includes it
const before = peakBytes();
const graphs = spec.paths.map((p) => sessions.graph(p));
const outA = tensorToFloat32((await graphs[0].run(feeds(spec.frames[0]))).out_sample);
await graphs[1].run(feeds(spec.frames[1]));
const outA2 = tensorToFloat32((await graphs[0].run(feeds(spec.frames[0]))).out_sample);
const same = outA.every((v, i) => v === outA2[i]);
process.stdout.write(`RESULT ${JSON.stringify({ peakGrowth: peakBytes() - before, stats: sessions.stats(), same })}\n`);
await sessions.releaseAll();

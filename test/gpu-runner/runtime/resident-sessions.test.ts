import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../../gpu-runner/graph/index.ts';
import { TINY_UNET_CONFIG } from '../../../gpu-runner/models/bundle/sd-configs.ts';
import { buildUNetGraph } from '../../../gpu-runner/models/unet/unet.ts';
import { ResidentSessions } from '../../../gpu-runner/runtime/resident-sessions.ts';
import { RecordingRandomWeightSource } from '../../../gpu-runner/models/weights.ts';

// A UNet whose weights (~53 MB) dwarf its activations at an 8x8 latent, so memory growth counts weight copies.
const CONFIG = { ...TINY_UNET_CONFIG, block_out_channels: [96, 192, 192], cross_attention_dim: 192, attention_head_dim: 8, norm_num_groups: 32 } as typeof TINY_UNET_CONFIG;
const SIZE = 8;
const CHILD = join(import.meta.dirname, 'support', 'resident-child.ts');
const scratch = mkdtempSync(join(tmpdir(), 'ocd-resident-'));
const paths: [string, string] = [join(scratch, 'a', 'unet.onnx'), join(scratch, 'b', 'unet.onnx')];
let weightBytes = 0;

beforeAll(() => {
  // two variants of one model: the plain UNet and the 2-frame pseudo-3D one (different graphs, same weights)
  const weights = new RecordingRandomWeightSource(3);
  saveModel(buildUNetGraph(CONFIG, weights, { frames: 1, height: SIZE, width: SIZE }), join(scratch, 'a'), 'unet');
  saveModel(buildUNetGraph(CONFIG, weights, { frames: 2, height: SIZE, width: SIZE }), join(scratch, 'b'), 'unet');
  weightBytes = statSync(`${paths[0]}.data`).size;
}, 30_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function runChild(limit: number | null): { peakGrowth: number; stats: { opened: number; evicted: number; open: number }; same: boolean } {
  const spec = { paths, limit, frames: [1, 2], channels: 4, size: SIZE, contextChannels: CONFIG.cross_attention_dim };
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(spec)], { encoding: 'utf8' });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`child printed no result:\n${stdout}`);
  return JSON.parse(line.slice('RESULT '.length));
}

describe('resident sessions: one copy of the weights whatever the number of variants', () => {
  it('holds the weights once with one resident session, twice when both stay open', () => {
    expect(weightBytes).toBeGreaterThan(40 * 2 ** 20);
    const one = runChild(1);
    const all = runChild(null);
    // Peak growth: one session costs its copy of the weights plus the runtime's fixed and transient load buffers
    // (measured 1.5-1.8x the side file); a second open session adds a whole second copy, which one slot never holds.
    expect(all.peakGrowth - one.peakGrowth).toBeGreaterThan(0.8 * weightBytes);
    // A, B, A with one slot: A opens, B evicts it, A reopens; with no limit both stay open
    expect(one.stats).toEqual({ opened: 3, evicted: 2, open: 1 });
    expect(all.stats).toEqual({ opened: 2, evicted: 0, open: 2 });
    expect(one.same && all.same).toBe(true);
  }, 60_000);

  it('makes room for one more before a build: releases the idle session a new one would evict, and only that', async () => {
    for (const [limit, openAfter] of [[1, 0], [2, 1]] as const) {
      const sessions = new ResidentSessions(limit, { provider: 'cpu' });
      await sessions.graph(paths[0]).names();
      await sessions.makeRoomForOne();
      expect({ limit, open: sessions.stats().open, evicted: sessions.stats().evicted }).toEqual({ limit, open: openAfter, evicted: 1 - openAfter });
      await sessions.releaseAll();
    }
  }, 60_000);
});

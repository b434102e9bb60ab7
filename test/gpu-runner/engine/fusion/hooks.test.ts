import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder, saveModel } from '../../../../gpu-runner/graph/index.ts';
import type { AttentionSite } from '../../../../gpu-runner/models/unet/hooks.ts';
import { createSession, runSession } from '../../../../gpu-runner/runtime/session.ts';
import { float32Tensor, tensorToFloat32 } from '../../../../gpu-runner/runtime/tensors.ts';
import { blendInputName, FUSION_INPUTS, fusionHooks, recordedOutputName, recordingHooks, sourceInputName } from '../../../../gpu-runner/engine/fusion/hooks.ts';
import { buildCrossAttentionMapping, fuseCrossReference, MAX_TOKENS } from '../../../../gpu-runner/engine/fusion/seq-aligner.ts';

const dir = mkdtempSync(join(tmpdir(), 'fusion-hooks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const F = 2, H = 2, Q = 4;
const site = (kind: 'self' | 'cross', level = 1): AttentionSite => ({
  name: `up_blocks.1.attentions.0.transformer_blocks.0.attn${kind === 'self' ? 1 : 2}`, kind, level, channels: 8, heads: H,
  height: 2, width: 2, frames: F, queryTokens: Q, keyTokens: kind === 'self' ? Q : MAX_TOKENS, crossFrame: true,
});

/** Builds probs -> hook -> output as a graph and runs it. */
async function runHook(kind: 'self' | 'cross', mode: 'fuse' | 'record', feeds: Record<string, { data: Float32Array; dims: number[] }>, name: string): Promise<Record<string, Float32Array>> {
  const s = site(kind);
  const g = new GraphBuilder({ name });
  const groups = mode === 'fuse' ? 2 : 1;
  const probs = g.input('probs', 'float32', [groups * F, H, Q, s.keyTokens]);
  const { hooks, sites } = mode === 'fuse' ? fusionHooks() : recordingHooks();
  expect(hooks.wantsProbabilities?.(s)).toBe(true);
  // FateZero's rule: query length <= 32² is controlled, 64x64 is not
  expect(hooks.wantsProbabilities?.({ ...site(kind, 0), height: 32, width: 32 })).toBe(true);
  expect(hooks.wantsProbabilities?.({ ...site(kind, 0), height: 32, width: 33 })).toBe(false);
  const out = hooks.onProbabilities!(g, s, probs);
  g.output(g.identity(out), 'fused', 'float32');
  expect(sites.map((x) => x.name)).toEqual([s.name]);
  const session = await createSession(saveModel(g.build(), dir, name));
  const tensors = Object.fromEntries(Object.entries(feeds).filter(([k]) => session.inputNames.includes(k)).map(([k, v]) => [k, float32Tensor(v.data, v.dims)]));
  const result = await runSession(session, tensors);
  await session.dispose();
  return Object.fromEntries(Object.entries(result).map(([k, v]) => [k, tensorToFloat32(v)]));
}

const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => ((Math.sin(i * 12.9898 + seed) * 43758.5453) % 1 + 1) % 1);

describe('fusion hooks in the graph', () => {
  const mapping = buildCrossAttentionMapping({
    controller: 'refine', sourceIds: [49406, 1, 2, 49407], targetIds: [49406, 1, 9, 2, 49407],
    source: { words: ['x', 'y'], tokenPositions: [[1], [2]] }, target: { words: ['x', 'z', 'y'], tokenPositions: [[1], [2], [3]] }, reweight: { z: 2 },
  });
  const common = {
    [FUSION_INPUTS.condGate]: { data: Float32Array.of(0, 1), dims: [2, 1, 1, 1, 1] },
    [FUSION_INPUTS.mapping]: { data: mapping.matrix, dims: [MAX_TOKENS, MAX_TOKENS] },
    [FUSION_INPUTS.alpha]: { data: mapping.alpha, dims: [MAX_TOKENS] },
    [FUSION_INPUTS.weights]: { data: mapping.weights, dims: [MAX_TOKENS] },
  };

  it.each([0, 1])('cross-attention: the cond half equals the reference formula (gate %i), the uncond half is untouched', async (gate) => {
    const rows = F * H * Q;
    const p = rand(2 * rows * MAX_TOKENS, 1);
    const source = rand(rows * MAX_TOKENS, 2);
    const out = await runHook('cross', 'fuse', {
      ...common, probs: { data: p, dims: [2 * F, H, Q, MAX_TOKENS] },
      [FUSION_INPUTS.crossGate]: { data: Float32Array.of(gate), dims: [1] }, [FUSION_INPUTS.selfGate]: { data: Float32Array.of(1), dims: [1] },
      [sourceInputName(site('cross'))]: { data: source, dims: [F, H, Q, MAX_TOKENS] },
    }, `cross-${gate}`);
    const half = rows * MAX_TOKENS;
    expect(out.fused.subarray(0, half)).toEqual(p.subarray(0, half));
    const expected = fuseCrossReference(source, p.subarray(half), rows, mapping, gate);
    let worst = 0;
    for (let i = 0; i < half; i++) worst = Math.max(worst, Math.abs(out.fused[half + i] - expected[i]));
    expect(worst).toBeLessThan(1e-6);
  });

  it('self-attention: blend mask 1 keeps the edit, 0 takes the source; closed gate keeps the edit', async () => {
    const n = F * H * Q * Q;
    const p = rand(2 * n, 3);
    const source = rand(n, 4);
    const blend = Float32Array.from({ length: F * Q }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const feeds = {
      ...common, probs: { data: p, dims: [2 * F, H, Q, Q] },
      [FUSION_INPUTS.crossGate]: { data: Float32Array.of(1), dims: [1] },
      [sourceInputName(site('self'))]: { data: source, dims: [F, H, Q, Q] },
      [blendInputName(site('self'))]: { data: blend, dims: [F, 1, Q, 1] },
    };
    const open = await runHook('self', 'fuse', { ...feeds, [FUSION_INPUTS.selfGate]: { data: Float32Array.of(1), dims: [1] } }, 'self-open');
    for (let f = 0; f < F; f++) for (let h = 0; h < H; h++) for (let q = 0; q < Q; q++) for (let k = 0; k < Q; k++) {
      const i = ((f * H + h) * Q + q) * Q + k;
      expect(open.fused[n + i]).toBeCloseTo(blend[f * Q + q] ? p[n + i] : source[i], 6);
      expect(open.fused[i]).toBe(p[i]);
    }
    const closed = await runHook('self', 'fuse', { ...feeds, [FUSION_INPUTS.selfGate]: { data: Float32Array.of(0), dims: [1] } }, 'self-closed');
    expect(closed.fused).toEqual(p);
  });

  it('recording exports the probabilities unchanged', async () => {
    const p = rand(F * H * Q * MAX_TOKENS, 5);
    const out = await runHook('cross', 'record', { probs: { data: p, dims: [F, H, Q, MAX_TOKENS] } }, 'record');
    expect(out[recordedOutputName(site('cross'))]).toEqual(p);
    expect(out.fused).toEqual(p);
  });
});

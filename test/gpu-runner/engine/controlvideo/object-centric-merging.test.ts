import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { saliencyInputName, tomeHooks } from '../../../../gpu-runner/models/unet/tome.ts';
import { buildUNetGraph } from '../../../../gpu-runner/models/unet/unet.ts';
import { SafetensorsWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { REFERENCE_MODEL_DIR } from '../../../support/paths.ts';
import { f32, i64, runModel } from '../../models/graphs/support.ts';

// Object-centric merging in ControlVideo's fully cross-frame attention: clip scope (2x2x2 cells) over 2 frames of
// 8x8 latents, ratio 0.75 (96 of the 112 sources merge, 16 stay), a foreground of 8 tokens.
const config = loadUNetConfig(join(REFERENCE_MODEL_DIR, 'unet/config.json'));
const weights = new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'unet/diffusion_pytorch_model.safetensors'));
const F = 2, H = 8, N = H * H;

/** Foreground: a 2x2 square in each frame, at a different place per frame. */
const saliency = Float32Array.from({ length: F * N }, (_, t) => {
  const f = Math.floor(t / N), y = Math.floor((t % N) / H), x = t % H;
  return y >= 3 && y < 5 && x >= 1 + 3 * f && x < 3 + 3 * f ? 1 : 0;
});

/** Merged foreground sources per merged layer call, from the plans the graph exports. */
async function foregroundMerged(beta: number): Promise<{ merged: number; foreground: number; layers: number }> {
  const model = buildUNetGraph(config, weights, {
    height: H, width: H, frames: F, fullCrossFrame: true, crossFrameMinChannels: 1,
    hooks: tomeHooks({ ratio: [0.75], scope: 'clip', st: 2, sx: 2, sy: 2, objectCentric: { beta }, plans: 'export' }),
  });
  const out = await runModel(model, {
    sample: f32(Float32Array.from({ length: F * 4 * N }, (_, i) => Math.sin(i * 0.37)), [F, 4, H, H]),
    timestep: i64(BigInt64Array.of(500n), []),
    encoder_hidden_states: f32(Float32Array.from({ length: F * 77 * 32 }, (_, i) => Math.cos(i * 0.7)), [F, 77, 32]),
    [saliencyInputName(0)]: f32(saliency, [F, N]),
  });
  let merged = 0, foreground = 0, layers = 0;
  for (const [name, tensor] of Object.entries(out)) {
    if (!name.endsWith('.tome.merged_tokens')) continue;
    layers++;
    for (const token of tensor.data as BigInt64Array) {
      merged++;
      if (saliency[Number(token)] >= 0.5) foreground++;
    }
  }
  return { merged, foreground, layers };
}

describe('object-centric token merging across time and space (ControlVideo)', () => {
  it('with a large beta no foreground source is merged; without it some are', async () => {
    const spared = await foregroundMerged(100);
    expect(spared.layers).toBeGreaterThan(0);
    expect(spared.merged).toBe(96 * spared.layers);
    expect(spared.foreground).toBe(0);
    const plain = await foregroundMerged(0);
    expect(plain.foreground).toBeGreaterThan(0);
  });
});

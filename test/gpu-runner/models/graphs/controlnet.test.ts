import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeControlNetFolder } from '../../../../gpu-runner/models/bundle/bundle-writer.ts';
import { loadControlNetFolder, readControlNetConfig } from '../../../../gpu-runner/models/bundle/controlnet-folder.ts';
import { controlNetParameters, parameterCount } from '../../../../gpu-runner/models/bundle/parameters.ts';
import { SD15_CONTROLNET_CONFIG, TINY_CONTROLNET_CONFIG } from '../../../../gpu-runner/models/bundle/sd-configs.ts';
import { parseControlNetConfig } from '../../../../gpu-runner/models/controlnet/config.ts';
import { buildControlNetGraph, controlNetOutputNames } from '../../../../gpu-runner/models/controlnet/controlnet.ts';
import { SafetensorsFile } from '../../../../gpu-runner/models/safetensors.ts';
import { loadUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../../../../gpu-runner/models/unet/unet.ts';
import { ModelLoadError, RecordingRandomWeightSource, SafetensorsWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { CONTROLNET_DIR, REFERENCE_MODEL_DIR } from '../../../support/paths.ts';
import { f32, i64, maxAbsDiff, runModel } from './support.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-controlnet-graphs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const referenceConfig = readControlNetConfig(join(CONTROLNET_DIR, 'config.json'));
const referenceWeights = new SafetensorsWeightSource(join(CONTROLNET_DIR, 'diffusion_pytorch_model.safetensors'));

/** Deterministic smooth inputs of the tiny reference shapes at latent size h x w. */
function inputs(h: number, w: number, scale: number) {
  const cond = Float32Array.from({ length: 2 * 3 * 8 * h * 8 * w }, (_, i) => 0.5 + 0.5 * Math.sin(i * 0.01));
  return {
    sample: f32(Float32Array.from({ length: 2 * 4 * h * w }, (_, i) => Math.sin(i * 0.3)), [2, 4, h, w]),
    timestep: i64(BigInt64Array.from([500n, 20n]), [2]),
    encoder_hidden_states: f32(Float32Array.from({ length: 2 * 77 * 32 }, (_, i) => Math.cos(i * 0.7)), [2, 77, 32]),
    controlnet_cond: f32(cond, [2, 3, 8 * h, 8 * w]),
    conditioning_scale: f32(Float32Array.of(scale), []),
  };
}

describe('ControlNetModel parameters and binding', () => {
  it('the parameter table equals the tensors of the file diffusers wrote', () => {
    const file = SafetensorsFile.open(join(CONTROLNET_DIR, 'diffusion_pytorch_model.safetensors'));
    const header = Object.fromEntries(file.names().map((name) => [name, file.info(name)!.shape]));
    file.close();
    const table = controlNetParameters(referenceConfig);
    expect(Object.fromEntries(table.map((p) => [p.name, [...p.shape]]))).toEqual(header);
  });

  const variant = { ...TINY_CONTROLNET_CONFIG, transformer_layers_per_block: [2, 1, 3], use_linear_projection: true, layers_per_block: 2 };
  it.each([['tiny', TINY_CONTROLNET_CONFIG], ['SD1.5', SD15_CONTROLNET_CONFIG], ['per-block depth, linear projections', variant]])(
    '%s: the builder binds exactly the table (enumerated without data)', (_, json) => {
      const config = parseControlNetConfig(json);
      const weights = new RecordingRandomWeightSource(0, { zeros: true });
      const model = buildControlNetGraph(config, weights, { height: 8, width: 8, initializers: 'discard' });
      const requested = Object.fromEntries(weights.entries().map(({ name, shape }) => [name, shape]));
      expect(requested).toEqual(Object.fromEntries(controlNetParameters(config).map((p) => [p.name, [...p.shape]])));
      expect(model.outputs.map((o) => o.name)).toEqual(controlNetOutputNames(config));
    },
  );

  it('a config with a feature the builder lacks fails naming the file and the key', () => {
    expect(() => parseControlNetConfig({ ...referenceConfig, class_embed_type: 'timestep' }, 'cn/config.json'))
      .toThrow('cn/config.json: class_embed_type = "timestep" is not supported (supported: null); this builder covers Stable Diffusion 1.x/2.x ControlNets.');
    expect(() => parseControlNetConfig({ ...referenceConfig, controlnet_conditioning_channel_order: 'rbg' })).toThrow(/controlnet_conditioning_channel_order/);
  });

  it('the SD1.5 ControlNet config has exactly the keys diffusers 0.27.2 writes', () => {
    const written = JSON.parse(readFileSync(join(CONTROLNET_DIR, 'config.json'), 'utf8')) as object;
    expect(Object.keys(SD15_CONTROLNET_CONFIG).sort()).toEqual(Object.keys(written).sort());
  });

  it('SD1.5 ControlNet: 361.3M parameters, 13 residuals (12 skips + mid) at 1/1, 1/2, 1/4, 1/8 of the latent', () => {
    const config = parseControlNetConfig(SD15_CONTROLNET_CONFIG);
    expect(parameterCount(controlNetParameters(config))).toBe(361_279_120);
    const model = buildControlNetGraph(config, new RecordingRandomWeightSource(0, { zeros: true }), { height: 64, width: 64, initializers: 'discard' });
    expect(model.outputs.map((o) => o.shape)).toEqual([
      ...[320, 320, 320].map((c) => ['batch', c, 64, 64]), ...[320, 640, 640].map((c) => ['batch', c, 32, 32]),
      ...[640, 1280, 1280].map((c) => ['batch', c, 16, 16]), ...[1280, 1280, 1280].map((c) => ['batch', c, 8, 8]),
      ['batch', 1280, 8, 8],
    ]);
  });
});

describe('ControlNet invariants on values', () => {
  const unetConfig = loadUNetConfig(join(REFERENCE_MODEL_DIR, 'unet/config.json'));
  const unetWeights = new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'unet/diffusion_pytorch_model.safetensors'));

  it('conditioning_scale 0: zero residuals, and the UNet with them equals the plain UNet', async () => {
    const feeds = inputs(16, 16, 0);
    const residuals = await runModel(buildControlNetGraph(referenceConfig, referenceWeights, { height: 16, width: 16 }), feeds);
    const names = controlNetOutputNames(referenceConfig);
    for (const name of names) expect(Math.max(...(residuals[name].data as Float32Array).map(Math.abs))).toBe(0);
    const base = { sample: feeds.sample, timestep: feeds.timestep, encoder_hidden_states: feeds.encoder_hidden_states };
    const plain = await runModel(buildUNetGraph(unetConfig, unetWeights, { height: 16, width: 16 }), base);
    const unetFeeds = Object.fromEntries(names.map((name, i) => [
      i < names.length - 1 ? `down_block_additional_residuals.${i}` : 'mid_block_additional_residual', residuals[name],
    ]));
    const controlled = await runModel(buildUNetGraph(unetConfig, unetWeights, { height: 16, width: 16, controlResiduals: true }), { ...base, ...unetFeeds });
    expect(maxAbsDiff(controlled.out_sample.data as Float32Array, plain.out_sample.data as Float32Array)).toBeLessThanOrEqual(1e-6);
    // and the residuals do matter at scale 1 (so the comparison above can fail)
    const scaled = await runModel(buildControlNetGraph(referenceConfig, referenceWeights, { height: 16, width: 16 }), inputs(16, 16, 1));
    const withResiduals = Object.fromEntries(names.map((name, i) => [
      i < names.length - 1 ? `down_block_additional_residuals.${i}` : 'mid_block_additional_residual', scaled[name],
    ]));
    const moved = await runModel(buildUNetGraph(unetConfig, unetWeights, { height: 16, width: 16, controlResiduals: true }), { ...base, ...withResiduals });
    expect(maxAbsDiff(moved.out_sample.data as Float32Array, plain.out_sample.data as Float32Array)).toBeGreaterThan(0.1);
  });

  it('residuals are linear in conditioning_scale', async () => {
    const model = buildControlNetGraph(referenceConfig, referenceWeights, { height: 8, width: 8 });
    const one = await runModel(model, inputs(8, 8, 1));
    const half = await runModel(model, inputs(8, 8, 0.5));
    const mid = one.mid_block_res_sample.data as Float32Array;
    expect(maxAbsDiff((half.mid_block_res_sample.data as Float32Array), mid.map((v) => v * 0.5))).toBeLessThanOrEqual(1e-5);
  });

  it("'bgr' channel order equals 'rgb' on the channel-flipped image", async () => {
    const bgr = parseControlNetConfig({ ...referenceConfig, controlnet_conditioning_channel_order: 'bgr' });
    const feeds = inputs(8, 8, 1);
    const cond = feeds.controlnet_cond.data as Float32Array;
    const plane = cond.length / 6;
    const flipped = new Float32Array(cond.length);
    for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) flipped.set(cond.subarray((b * 3 + c) * plane, (b * 3 + c + 1) * plane), (b * 3 + 2 - c) * plane);
    const a = await runModel(buildControlNetGraph(bgr, referenceWeights, { height: 8, width: 8 }), feeds);
    const b = await runModel(buildControlNetGraph(referenceConfig, referenceWeights, { height: 8, width: 8 }), { ...feeds, controlnet_cond: f32(flipped, [2, 3, 64, 64]) });
    expect(maxAbsDiff(a.mid_block_res_sample.data as Float32Array, b.mid_block_res_sample.data as Float32Array)).toBe(0);
    const unflipped = await runModel(buildControlNetGraph(referenceConfig, referenceWeights, { height: 8, width: 8 }), feeds);
    expect(maxAbsDiff(a.mid_block_res_sample.data as Float32Array, unflipped.mid_block_res_sample.data as Float32Array)).toBeGreaterThan(1e-3);
  });

  it('global_pool_conditions averages every residual over space', async () => {
    const pooled = parseControlNetConfig({ ...referenceConfig, global_pool_conditions: true });
    const a = await runModel(buildControlNetGraph(pooled, referenceWeights, { height: 8, width: 8 }), inputs(8, 8, 1));
    const b = await runModel(buildControlNetGraph(referenceConfig, referenceWeights, { height: 8, width: 8 }), inputs(8, 8, 1));
    expect(a.mid_block_res_sample.dims).toEqual([2, 64, 1, 1]);
    const full = b.mid_block_res_sample.data as Float32Array;
    const hw = full.length / 128;
    const means = Float32Array.from({ length: 128 }, (_, k) => full.subarray(k * hw, (k + 1) * hw).reduce((s, v) => s + v, 0) / hw);
    expect(maxAbsDiff(a.mid_block_res_sample.data as Float32Array, means)).toBeLessThanOrEqual(1e-5);
  });
});

describe('random ControlNet folders', () => {
  it('a tiny random folder loads, runs and gives finite, non-zero residuals; same seed, same bytes', async () => {
    const dir = join(scratch, 'tiny-controlnet');
    writeControlNetFolder(dir, TINY_CONTROLNET_CONFIG, { seed: 7 });
    const again = join(scratch, 'tiny-controlnet-again');
    writeControlNetFolder(again, TINY_CONTROLNET_CONFIG, { seed: 7 });
    const bytes = (folder: string) => SafetensorsFile.open(join(folder, 'diffusion_pytorch_model.safetensors'));
    const [x, y] = [bytes(dir), bytes(again)];
    expect(Buffer.from(x.readFloat32('controlnet_mid_block.weight').buffer).equals(Buffer.from(y.readFloat32('controlnet_mid_block.weight').buffer))).toBe(true);
    x.close();
    y.close();
    const controlnet = loadControlNetFolder(dir);
    try {
      const feeds = inputs(4, 4, 1);
      const out = await runModel(buildControlNetGraph(controlnet.config, controlnet.weights, { height: 4, width: 4 }), feeds);
      const mid = out.mid_block_res_sample.data as Float32Array;
      expect(out.mid_block_res_sample.dims).toEqual([2, 64, 1, 1]);
      expect(mid.every(Number.isFinite)).toBe(true);
      expect(Math.max(...mid.map(Math.abs))).toBeGreaterThan(0);
    } finally {
      controlnet.dispose();
    }
  });

  it('fails naming the file when the folder is not a ControlNet or its weights do not belong to its config', () => {
    const dir = join(scratch, 'mismatched');
    writeControlNetFolder(dir, TINY_CONTROLNET_CONFIG, { seed: 1 });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(referenceConfig));
    expect(() => loadControlNetFolder(dir)).toThrow(/diffusion_pytorch_model\.safetensors: .*tensor '.*'.*; check that config\.json belongs to these weights/);
    expect(() => loadControlNetFolder(join(REFERENCE_MODEL_DIR, 'unet'))).toThrow(/_class_name is "UNet2DConditionModel", not "ControlNetModel"/);
    expect(() => loadControlNetFolder(REFERENCE_MODEL_DIR)).toThrow(ModelLoadError);
  });
});

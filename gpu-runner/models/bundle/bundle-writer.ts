/**
 * Writes a complete diffusers-layout Stable Diffusion 1.x folder with seeded random weights from a set of
 * configs. Shared by the tiny test bundle and the SD1.5-scale benchmark bundle.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeSafetensors } from '../safetensors.ts';
import { randomParameter } from '../weights.ts';
import { clipTextParameters, controlNetParameters, unetParameters, vaeParameters, type ParameterSpec } from './parameters.ts';
import { parseControlNetConfig, type ControlNetConfig } from '../controlnet/config.ts';
import { parseCLIPTextConfig } from '../clip-text/config.ts';
import { parseUNetConfig } from '../unet/config.ts';
import { parseVAEConfig } from '../vae/config.ts';
import type { CLIPTextConfig, ModelIndex, SchedulerConfig, UNetConfig, VAEConfig } from './configs.ts';
import { writeTokenizerFiles } from './tokenizer-files.ts';

/** Everything a bundle's JSON files hold. */
export interface BundleConfigs {
  readonly modelIndex: ModelIndex;
  readonly scheduler: SchedulerConfig;
  readonly unet: UNetConfig;
  readonly vae: VAEConfig;
  readonly textEncoder: CLIPTextConfig;
}

/** SD1.5's `model_index.json` (no safety checker). */
export const SD15_MODEL_INDEX: ModelIndex = Object.freeze({
  _class_name: 'StableDiffusionPipeline',
  _diffusers_version: '0.27.2',
  feature_extractor: [null, null],
  requires_safety_checker: false,
  safety_checker: [null, null],
  scheduler: ['diffusers', 'PNDMScheduler'],
  text_encoder: ['transformers', 'CLIPTextModel'],
  tokenizer: ['transformers', 'CLIPTokenizer'],
  unet: ['diffusers', 'UNet2DConditionModel'],
  vae: ['diffusers', 'AutoencoderKL'],
}) as unknown as ModelIndex;

/** SD1.5's `scheduler/scheduler_config.json`, exactly. */
export const SD15_SCHEDULER_CONFIG: SchedulerConfig = Object.freeze({
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
}) as unknown as SchedulerConfig;

/** Options of `writeBundle`. */
export interface WriteBundleOptions {
  /** Seed of every random parameter. */
  readonly seed: number;
  /** OpenAI's `bpe_simple_vocab_16e6.txt.gz`, for the tokenizer folder. */
  readonly bpeVocabGzPath: string;
}

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Writes one safetensors file of `table`, generating each tensor only when it is written (low memory). */
function writeRandomWeights(path: string, table: readonly ParameterSpec[], seed: number): void {
  // Sorted by name, as torch's safetensors writer lays files out.
  const sorted = [...table].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  writeSafetensors(path, sorted.map((p) => ({
    name: p.name,
    dtype: p.dtype,
    shape: p.shape,
    data: p.dtype === 'I64'
      ? () => BigInt64Array.from({ length: p.shape.reduce((n, d) => n * d, 1) }, (_, i) => BigInt(i))
      : () => randomParameter(seed, p.name, p.shape),
  })), { format: 'pt' });
}

/** Writes the bundle into `dir` (created; existing files are overwritten). Tables use the configs with defaults filled in. */
export function writeBundle(dir: string, configs: BundleConfigs, options: WriteBundleOptions): void {
  writeJson(join(dir, 'model_index.json'), configs.modelIndex);
  writeJson(join(dir, 'scheduler/scheduler_config.json'), configs.scheduler);
  writeJson(join(dir, 'unet/config.json'), configs.unet);
  writeRandomWeights(join(dir, 'unet/diffusion_pytorch_model.safetensors'), unetParameters(parseUNetConfig(configs.unet)), options.seed);
  writeJson(join(dir, 'vae/config.json'), configs.vae);
  writeRandomWeights(join(dir, 'vae/diffusion_pytorch_model.safetensors'), vaeParameters(parseVAEConfig(configs.vae)), options.seed);
  writeJson(join(dir, 'text_encoder/config.json'), configs.textEncoder);
  writeRandomWeights(join(dir, 'text_encoder/model.safetensors'), clipTextParameters(parseCLIPTextConfig(configs.textEncoder)), options.seed);
  writeTokenizerFiles(join(dir, 'tokenizer'), options.bpeVocabGzPath);
}

/**
 * Writes a diffusers ControlNetModel folder (config.json + diffusion_pytorch_model.safetensors) with seeded random
 * weights into `dir`. Its zero convolutions get random weights too (a trained ControlNet's are not zero either), so
 * the residuals it gives are not zero.
 */
export function writeControlNetFolder(dir: string, config: ControlNetConfig, options: { readonly seed: number }): void {
  writeJson(join(dir, 'config.json'), config);
  writeRandomWeights(join(dir, 'diffusion_pytorch_model.safetensors'), controlNetParameters(parseControlNetConfig(config)), options.seed);
}

/**
 * Makes `target` by running `write(tmpDir)` into a sibling temp folder and renaming it into place, so
 * readers never see a half-written bundle. If another process finished first, its folder is kept.
 * @returns `target`
 */
export function writeAtomically(target: string, write: (tmpDir: string) => void): string {
  if (existsSync(target)) return target;
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(tmp, { recursive: true });
  try {
    write(tmp);
    renameSync(tmp, target);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    if (existsSync(target)) return target;
    throw error;
  }
  return target;
}

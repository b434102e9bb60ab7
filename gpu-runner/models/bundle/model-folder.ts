/**
 * Loading a diffusers-layout Stable Diffusion 1.x folder: `model_index.json`, each component's config
 * (zod-validated) and weights, the tokenizer files. Everything that can be checked without running a
 * graph is checked here, so a bad folder fails at load with one message naming the file (and tensor).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError, openComponentWeights, type SafetensorsWeightSource, type WeightVariant } from '../weights.ts';
import {
  ModelIndexSchema, SchedulerConfigSchema, readCLIPTextConfig, readConfigFile, readUNetConfig, readVAEConfig,
  type CLIPTextConfig, type ModelIndex, type SchedulerConfig, type UNetConfig, type VAEConfig,
} from './configs.ts';
import { clipTextParameters, unetParameters, vaeParameters, type ParameterSpec } from './parameters.ts';

/** A component with a config and weights. */
export interface ModelComponent<C> {
  /** The component folder (`<model>/unet`, ...). */
  readonly dir: string;
  readonly config: C;
  /** The weight file chosen for the requested variant. */
  readonly weightsPath: string;
  readonly weights: SafetensorsWeightSource;
}

/** A loaded model folder. Call `dispose()` to close the weight files. */
export interface ModelFolder {
  readonly dir: string;
  readonly modelIndex: ModelIndex;
  readonly unet: ModelComponent<UNetConfig>;
  readonly vae: ModelComponent<VAEConfig>;
  readonly textEncoder: ModelComponent<CLIPTextConfig>;
  readonly tokenizer: { readonly dir: string; readonly vocabPath: string; readonly mergesPath: string };
  readonly scheduler: { readonly dir: string; readonly config: SchedulerConfig };
  dispose(): void;
}

/** Options of `loadModelFolder`. */
export interface LoadModelFolderOptions {
  /** Weight file variant. @default 'auto' (fp32 when present, else fp16) */
  readonly variant?: WeightVariant;
  /**
   * Compare every weight file's header with the tensors its config implies (header only, no data read).
   * @default true
   */
  readonly checkWeights?: boolean;
}

function requireFile(path: string): string {
  if (!existsSync(path)) throw new ModelLoadError(`missing file ${path}`);
  return path;
}

/**
 * Throws on the first tensor the config needs that the file lacks or holds with another shape.
 * @throws ModelLoadError naming the file, the tensor and both shapes.
 */
export function checkWeightsAgainstConfig(weights: SafetensorsWeightSource, expected: readonly ParameterSpec[]): void {
  const problems: string[] = [];
  for (const spec of expected) {
    if (spec.dtype !== 'F32') continue;
    const found = weights.shape(spec.name);
    const squeezed = found && found.length === 4 && found[2] === 1 && found[3] === 1 ? found.slice(0, 2) : undefined;
    const matches = (shape: readonly number[] | undefined): boolean =>
      !!shape && shape.length === spec.shape.length && shape.every((d, i) => d === spec.shape[i]);
    if (!found) problems.push(`missing tensor '${spec.name}' (expected shape [${spec.shape.join(', ')}])`);
    else if (!matches(found) && !matches(squeezed)) {
      problems.push(`tensor '${spec.name}' has shape [${found.join(', ')}] but the config expects [${spec.shape.join(', ')}]`);
    }
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    throw new ModelLoadError(`${weights.origin}: ${problems[0]}${more}; check that config.json belongs to these weights`);
  }
}

function loadComponent<C>(
  dir: string, readConfig: (path: string) => C, expected: (config: C) => ParameterSpec[], options: LoadModelFolderOptions,
): ModelComponent<C> {
  const config = readConfig(join(dir, 'config.json'));
  const weights = openComponentWeights(dir, options.variant ?? 'auto');
  try {
    if (options.checkWeights ?? true) checkWeightsAgainstConfig(weights, expected(config));
  } catch (error) {
    weights.dispose();
    throw error;
  }
  return { dir, config, weightsPath: weights.origin, weights };
}

/**
 * Loads the model folder `dir` (diffusers layout).
 *
 * @throws ModelLoadError naming the file: a missing file, invalid JSON or config (e.g. an unsupported
 *   block type, with the allowed ones), a truncated safetensors file, or a missing / wrongly shaped tensor.
 * @example
 *   const model = loadModelFolder('models/stable-diffusion-v1-5');
 *   model.unet.weights.get('conv_in.weight', [320, 4, 3, 3]);
 *   model.dispose();
 */
export function loadModelFolder(dir: string, options: LoadModelFolderOptions = {}): ModelFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelLoadError(`model folder ${dir} does not exist; pass a diffusers-layout Stable Diffusion 1.x folder (or run 'ocd model tiny <dir>')`);
  }
  const modelIndex = readConfigFile(join(dir, 'model_index.json'), ModelIndexSchema);
  const opened: Array<ModelComponent<unknown>> = [];
  try {
    const unet = loadComponent<UNetConfig>(join(dir, 'unet'), readUNetConfig, unetParameters, options);
    opened.push(unet);
    const vae = loadComponent<VAEConfig>(join(dir, 'vae'), readVAEConfig, vaeParameters, options);
    opened.push(vae);
    const textEncoder = loadComponent<CLIPTextConfig>(join(dir, 'text_encoder'), readCLIPTextConfig, clipTextParameters, options);
    opened.push(textEncoder);
    const tokenizerDir = join(dir, 'tokenizer');
    const tokenizer = {
      dir: tokenizerDir,
      vocabPath: requireFile(join(tokenizerDir, 'vocab.json')),
      mergesPath: requireFile(join(tokenizerDir, 'merges.txt')),
    };
    const schedulerDir = join(dir, 'scheduler');
    const scheduler = { dir: schedulerDir, config: readConfigFile(join(schedulerDir, 'scheduler_config.json'), SchedulerConfigSchema) };
    return {
      dir, modelIndex, unet, vae, textEncoder, tokenizer, scheduler,
      dispose() {
        for (const component of opened) component.weights.dispose();
      },
    };
  } catch (error) {
    for (const component of opened) component.weights.dispose();
    throw error;
  }
}

/**
 * Loading a diffusers `ControlNetModel` folder (`config.json` + `diffusion_pytorch_model.safetensors`, the layout
 * of e.g. SD1.5's sd-controlnet-canny). Checked like a model folder's component: the config by its schema, the
 * weight header against the tensors the config implies, so a wrong folder fails at load with the file named.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseControlNetConfig, type ControlNetConfig } from '../controlnet/config.ts';
import { ModelLoadError, openComponentWeights, type WeightVariant } from '../weights.ts';
import { readJsonFile } from './configs.ts';
import { checkWeightsAgainstConfig, type ModelComponent } from './model-folder.ts';
import { controlNetParameters } from './parameters.ts';

/** A loaded ControlNet folder. Call `dispose()` to close the weight file. */
export interface ControlNetFolder extends ModelComponent<ControlNetConfig> {
  dispose(): void;
}

/** Reads and checks `<dir>/config.json` as a ControlNetModel config. @throws ModelLoadError naming the file. */
export function readControlNetConfig(path: string): ControlNetConfig {
  const json = readJsonFile(path);
  const className = (json as { _class_name?: unknown })._class_name;
  if (className !== undefined && className !== 'ControlNetModel') {
    throw new ModelLoadError(`${path}: _class_name is ${JSON.stringify(className)}, not "ControlNetModel"; pass the ControlNet's own folder (config.json + diffusion_pytorch_model.safetensors)`);
  }
  try {
    return parseControlNetConfig(json, path);
  } catch (error) {
    throw new ModelLoadError((error as Error).message);
  }
}

/**
 * Loads the ControlNet folder `dir`.
 *
 * @param options.variant weight file variant. @default 'auto' (fp32 when present, else fp16)
 * @throws ModelLoadError naming the file: not a folder, no config.json (e.g. a whole Stable Diffusion folder was
 *   given), a config of another class, or weights that lack a tensor the config implies.
 * @example
 *   const controlnet = loadControlNetFolder('models/sd-controlnet-canny');
 *   controlnet.dispose();
 */
export function loadControlNetFolder(dir: string, options: { readonly variant?: WeightVariant } = {}): ControlNetFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelLoadError(`ControlNet folder ${dir} does not exist; pass a diffusers ControlNetModel folder (config.json + diffusion_pytorch_model.safetensors), or make a random one with 'ocd model controlnet <dir>'`);
  }
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) {
    throw new ModelLoadError(`${dir} has no config.json, so it is not a ControlNetModel folder (config.json + diffusion_pytorch_model.safetensors)`);
  }
  const config = readControlNetConfig(configPath);
  const weights = openComponentWeights(dir, options.variant ?? 'auto');
  try {
    checkWeightsAgainstConfig(weights, controlNetParameters(config));
  } catch (error) {
    weights.dispose();
    throw error;
  }
  return { dir, config, weightsPath: weights.origin, weights, dispose: () => weights.dispose() };
}

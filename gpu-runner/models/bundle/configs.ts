/**
 * Reading the JSON files of a diffusers Stable Diffusion 1.x folder. Component configs use the model
 * families' own schemas (`unet/config.ts`, `vae/config.ts`, `clip-text/config.ts`), so each file has one
 * schema; this module adds what a folder loader needs on top: the file name in every error, and a check
 * that the block types are ones the graph builders implement, so a bad folder fails at load, not mid-build.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseCLIPTextConfig, type CLIPTextConfig } from '../clip-text/config.ts';
import { parseUNetConfig, type UNetConfig } from '../unet/config.ts';
import { parseVAEConfig, type VAEConfig } from '../vae/config.ts';
import { ModelLoadError } from '../weights.ts';

export type { CLIPTextConfig, UNetConfig, VAEConfig };

/** Block types the graph builders implement. */
export const UNET_DOWN_BLOCK_TYPES: readonly string[] = ['CrossAttnDownBlock2D', 'DownBlock2D'];
export const UNET_UP_BLOCK_TYPES: readonly string[] = ['UpBlock2D', 'CrossAttnUpBlock2D'];
export const UNET_MID_BLOCK_TYPES: readonly string[] = ['UNetMidBlock2DCrossAttn'];
export const VAE_DOWN_BLOCK_TYPES: readonly string[] = ['DownEncoderBlock2D'];
export const VAE_UP_BLOCK_TYPES: readonly string[] = ['UpDecoderBlock2D'];

/** `model_index.json`: component name -> [library, class] (or [null, null] for absent ones). */
export const ModelIndexSchema = z.looseObject({
  _class_name: z.string(),
  unet: z.tuple([z.string(), z.string()]),
  vae: z.tuple([z.string(), z.string()]),
  text_encoder: z.tuple([z.string(), z.string()]),
  tokenizer: z.tuple([z.string(), z.string()]),
  scheduler: z.tuple([z.string(), z.string()]),
});
export type ModelIndex = z.infer<typeof ModelIndexSchema>;

/** `scheduler/scheduler_config.json`: the noise schedule (the class name is informational; we pick our own samplers). */
export const SchedulerConfigSchema = z.looseObject({
  _class_name: z.string().optional(),
  num_train_timesteps: z.number().int().positive().default(1000),
  beta_start: z.number().positive().default(0.00085),
  beta_end: z.number().positive().default(0.012),
  beta_schedule: z.enum(['scaled_linear', 'linear']).default('scaled_linear'),
  set_alpha_to_one: z.boolean().default(false),
  steps_offset: z.number().int().nonnegative().default(1),
  clip_sample: z.boolean().default(false),
  prediction_type: z.literal('epsilon').default('epsilon'),
});
export type SchedulerConfig = z.infer<typeof SchedulerConfigSchema>;

/**
 * The parsed JSON of `path`.
 * @throws ModelLoadError naming the file when it is missing or not JSON.
 */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelLoadError(code === 'ENOENT' ? `missing file ${path}` : `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`${path}: not valid JSON (${(error as Error).message})`);
  }
}

/**
 * Reads and validates one JSON file against `schema`.
 * @throws ModelLoadError naming the file: missing, not JSON, or failing the schema (each issue with its key path).
 */
export function readConfigFile<S extends z.ZodType>(path: string, schema: S): z.infer<S> {
  const parsed = schema.safeParse(readJsonFile(path));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new ModelLoadError(`${path}: invalid config: ${issues.join('; ')}`);
  }
  return parsed.data;
}

/** Runs a family's config parser, turning its error (which names the file) into a ModelLoadError. */
function parseWith<C>(parse: (json: unknown, origin: string) => C, json: unknown, path: string): C {
  try {
    return parse(json, path);
  } catch (error) {
    throw new ModelLoadError((error as Error).message);
  }
}

function checkBlockTypes(path: string, key: string, types: ReadonlyArray<string | null>, allowed: readonly string[]): void {
  types.forEach((type, i) => {
    if (type === null || !allowed.includes(type)) {
      throw new ModelLoadError(`${path}: invalid config: ${key}.${i}: unsupported block type ${JSON.stringify(type)}; supported: ${allowed.join(', ')}`);
    }
  });
}

/** Reads `unet/config.json`. @throws ModelLoadError naming the file (and the block type when unsupported). */
export function readUNetConfig(path: string): UNetConfig {
  const config = parseWith(parseUNetConfig, readJsonFile(path), path);
  checkBlockTypes(path, 'down_block_types', config.down_block_types, UNET_DOWN_BLOCK_TYPES);
  checkBlockTypes(path, 'up_block_types', config.up_block_types, UNET_UP_BLOCK_TYPES);
  checkBlockTypes(path, 'mid_block_type', [config.mid_block_type], UNET_MID_BLOCK_TYPES);
  return config;
}

/** Reads `vae/config.json`. @throws ModelLoadError naming the file (and the block type when unsupported). */
export function readVAEConfig(path: string): VAEConfig {
  const config = parseWith(parseVAEConfig, readJsonFile(path), path);
  checkBlockTypes(path, 'down_block_types', config.down_block_types, VAE_DOWN_BLOCK_TYPES);
  checkBlockTypes(path, 'up_block_types', config.up_block_types, VAE_UP_BLOCK_TYPES);
  const blocks = config.block_out_channels.length;
  if (config.down_block_types.length !== blocks || config.up_block_types.length !== blocks) {
    throw new ModelLoadError(`${path}: invalid config: down_block_types (${config.down_block_types.length}), up_block_types `
      + `(${config.up_block_types.length}) and block_out_channels (${blocks}) must have the same length`);
  }
  return config;
}

/** Reads `text_encoder/config.json`. @throws ModelLoadError naming the file. */
export function readCLIPTextConfig(path: string): CLIPTextConfig {
  return parseWith(parseCLIPTextConfig, readJsonFile(path), path);
}

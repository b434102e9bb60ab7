/**
 * zod schemas of the JSON files in a diffusers Stable Diffusion 1.x folder. Keys are the files' own keys;
 * defaults are diffusers'/transformers' defaults. Unknown keys pass through untouched, so a parsed config
 * can be written back out or handed to a graph builder as is.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ModelLoadError } from '../weights.ts';

/** UNet block types the graph builders implement. */
export const UNET_DOWN_BLOCK_TYPES = ['CrossAttnDownBlock2D', 'DownBlock2D'] as const;
export const UNET_UP_BLOCK_TYPES = ['UpBlock2D', 'CrossAttnUpBlock2D'] as const;
export const UNET_MID_BLOCK_TYPES = ['UNetMidBlock2DCrossAttn'] as const;
export const VAE_DOWN_BLOCK_TYPES = ['DownEncoderBlock2D'] as const;
export const VAE_UP_BLOCK_TYPES = ['UpDecoderBlock2D'] as const;

const positiveInt = z.number().int().positive();
const blockType = <T extends readonly [string, ...string[]]>(allowed: T) =>
  z.string().refine((v) => (allowed as readonly string[]).includes(v), {
    error: (issue) => `unsupported block type ${JSON.stringify(issue.input)}; supported: ${allowed.join(', ')}`,
  });

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

/** `unet/config.json` (UNet2DConditionModel). */
export const UNetConfigSchema = z.looseObject({
  _class_name: z.literal('UNet2DConditionModel').default('UNet2DConditionModel'),
  in_channels: positiveInt.default(4),
  out_channels: positiveInt.default(4),
  sample_size: positiveInt.default(64),
  block_out_channels: z.array(positiveInt).min(1).default([320, 640, 1280, 1280]),
  down_block_types: z.array(blockType(UNET_DOWN_BLOCK_TYPES)).min(1)
    .default(['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']),
  mid_block_type: blockType(UNET_MID_BLOCK_TYPES).default('UNetMidBlock2DCrossAttn'),
  up_block_types: z.array(blockType(UNET_UP_BLOCK_TYPES)).min(1)
    .default(['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D']),
  layers_per_block: positiveInt.default(2),
  /** SD1.x: really the number of heads (diffusers keeps the old name). */
  attention_head_dim: z.union([positiveInt, z.array(positiveInt)]).default(8),
  num_attention_heads: z.union([positiveInt, z.array(positiveInt)]).nullable().default(null),
  cross_attention_dim: positiveInt.default(1280),
  norm_num_groups: positiveInt.default(32),
  norm_eps: z.number().positive().default(1e-5),
  flip_sin_to_cos: z.boolean().default(true),
  freq_shift: z.number().default(0),
  use_linear_projection: z.boolean().default(false),
  conv_in_kernel: positiveInt.default(3),
  conv_out_kernel: positiveInt.default(3),
  transformer_layers_per_block: z.literal(1).default(1),
  time_embedding_dim: positiveInt.nullable().default(null),
  act_fn: z.literal('silu').default('silu'),
}).superRefine((config, ctx) => {
  const n = config.block_out_channels.length;
  for (const key of ['down_block_types', 'up_block_types'] as const) {
    if (config[key].length !== n) {
      ctx.addIssue({ code: 'custom', path: [key], message: `has ${config[key].length} entries but block_out_channels has ${n}; they must match` });
    }
  }
});
export type UNetConfig = z.infer<typeof UNetConfigSchema>;

/** `vae/config.json` (AutoencoderKL). */
export const VAEConfigSchema = z.looseObject({
  _class_name: z.literal('AutoencoderKL').default('AutoencoderKL'),
  in_channels: positiveInt.default(3),
  out_channels: positiveInt.default(3),
  latent_channels: positiveInt.default(4),
  block_out_channels: z.array(positiveInt).min(1).default([64]),
  down_block_types: z.array(blockType(VAE_DOWN_BLOCK_TYPES)).min(1).default(['DownEncoderBlock2D']),
  up_block_types: z.array(blockType(VAE_UP_BLOCK_TYPES)).min(1).default(['UpDecoderBlock2D']),
  layers_per_block: positiveInt.default(1),
  norm_num_groups: positiveInt.default(32),
  sample_size: positiveInt.default(32),
  scaling_factor: z.number().positive().default(0.18215),
  mid_block_add_attention: z.boolean().default(true),
  act_fn: z.literal('silu').default('silu'),
}).superRefine((config, ctx) => {
  const n = config.block_out_channels.length;
  for (const key of ['down_block_types', 'up_block_types'] as const) {
    if (config[key].length !== n) {
      ctx.addIssue({ code: 'custom', path: [key], message: `has ${config[key].length} entries but block_out_channels has ${n}; they must match` });
    }
  }
});
export type VAEConfig = z.infer<typeof VAEConfigSchema>;

/** `text_encoder/config.json` (transformers CLIPTextModel). */
export const CLIPTextConfigSchema = z.looseObject({
  vocab_size: positiveInt.default(49408),
  hidden_size: positiveInt.default(512),
  intermediate_size: positiveInt.default(2048),
  num_hidden_layers: positiveInt.default(12),
  num_attention_heads: positiveInt.default(8),
  max_position_embeddings: positiveInt.default(77),
  hidden_act: z.enum(['quick_gelu', 'gelu']).default('quick_gelu'),
  layer_norm_eps: z.number().positive().default(1e-5),
}).superRefine((config, ctx) => {
  if (config.hidden_size % config.num_attention_heads !== 0) {
    ctx.addIssue({ code: 'custom', path: ['num_attention_heads'], message: `${config.num_attention_heads} does not divide hidden_size ${config.hidden_size}` });
  }
});
export type CLIPTextConfig = z.infer<typeof CLIPTextConfigSchema>;

/** `scheduler/scheduler_config.json`: the noise schedule (the class name is informational; we pick our own samplers). */
export const SchedulerConfigSchema = z.looseObject({
  _class_name: z.string().optional(),
  num_train_timesteps: positiveInt.default(1000),
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
 * Reads and validates one JSON file.
 *
 * @throws ModelLoadError naming the file when it is missing, not JSON, or fails the schema (each issue
 *   with its key path).
 */
export function readConfigFile<S extends z.ZodType>(path: string, schema: S): z.infer<S> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelLoadError(code === 'ENOENT' ? `missing file ${path}` : `cannot read ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new ModelLoadError(`${path}: invalid config: ${issues.join('; ')}`);
  }
  return parsed.data;
}

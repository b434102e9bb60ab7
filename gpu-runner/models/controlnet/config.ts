import { z } from 'zod';
import type { UNetDownPathConfig } from '../unet/down-path.ts';
import { rejectUnsupported, UNetConfigSchema } from '../unet/config.ts';

/**
 * diffusers `ControlNetModel` config.json, with the keys of the file and diffusers' defaults. The keys it shares
 * with `UNet2DConditionModel` (its encoder half is a copy of the UNet's) come from the UNet schema, defaults
 * included; the rest are the conditioning embedding's.
 */
export const ControlNetConfigSchema = UNetConfigSchema.pick({
  in_channels: true, flip_sin_to_cos: true, freq_shift: true, down_block_types: true, mid_block_type: true,
  block_out_channels: true, layers_per_block: true, downsample_padding: true, mid_block_scale_factor: true,
  act_fn: true, norm_num_groups: true, norm_eps: true, cross_attention_dim: true, transformer_layers_per_block: true,
  attention_head_dim: true, num_attention_heads: true, use_linear_projection: true, only_cross_attention: true,
  upcast_attention: true, resnet_time_scale_shift: true, class_embed_type: true, addition_embed_type: true, _class_name: true,
}).extend({
  /** Channels of the control image (3: RGB). */
  conditioning_channels: z.number().int().positive().default(3),
  /** Channel order the weights were trained on; 'bgr' images are flipped to it. */
  controlnet_conditioning_channel_order: z.enum(['rgb', 'bgr']).default('rgb'),
  /** Widths of the conditioning embedding's conv stages; each stage after the first halves the size. */
  conditioning_embedding_out_channels: z.array(z.number().int().positive()).min(1).default([16, 32, 96, 256]),
  /** Shuffle-style ControlNets average each residual over space. */
  global_pool_conditions: z.boolean().default(false),
  encoder_hid_dim_type: z.string().nullable().default(null),
}).loose();

export type ControlNetConfig = z.infer<typeof ControlNetConfigSchema>;

/**
 * Parses a ControlNet config.json. Features we do not build fail here, naming the file and the key.
 * @throws Error naming `origin`, the key, the value and the supported values.
 */
export function parseControlNetConfig(json: unknown, origin = 'controlnet/config.json'): ControlNetConfig {
  const parsed = ControlNetConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`${origin}: not a ControlNetModel config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const config = parsed.data;
  const unsupported: [string, unknown, unknown][] = [
    ['resnet_time_scale_shift', config.resnet_time_scale_shift, 'default'],
    ['class_embed_type', config.class_embed_type, null],
    ['addition_embed_type', config.addition_embed_type, null],
    ['encoder_hid_dim_type', config.encoder_hid_dim_type, null],
    ['only_cross_attention', config.only_cross_attention, false],
  ];
  rejectUnsupported(origin, unsupported, 'ControlNets');
  if (config.down_block_types.length !== config.block_out_channels.length) {
    throw new Error(`${origin}: down_block_types (${config.down_block_types.length}) and block_out_channels (${config.block_out_channels.length}) must have the same length.`);
  }
  return config;
}

/**
 * The ControlNet seen as the UNet encoder half it copies. Keys ControlNetModel hard-wires instead of reading
 * from its config: conv_in is 3x3, the sample is not centred, resnets are not rescaled.
 */
export function controlNetDownPathConfig(config: ControlNetConfig): UNetDownPathConfig {
  return { ...config, conv_in_kernel: 3, center_input_sample: false, resnet_out_scale_factor: 1 };
}

/** Ratio of the control image's size to the latent's: 2^(stages - 1) (8 for SD1.5's [16, 32, 96, 256]). */
export function conditioningScaleFactor(config: ControlNetConfig): number {
  return 2 ** (config.conditioning_embedding_out_channels.length - 1);
}

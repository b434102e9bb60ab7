import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { WeightSource } from '../weights.ts';

const intOrList = z.union([z.number().int().positive(), z.array(z.number().int().positive())]);

/**
 * diffusers `UNet2DConditionModel` config.json, with the keys of the file and diffusers' defaults.
 * Keys we do not use are kept (loose object) so the parsed config round-trips.
 */
export const UNetConfigSchema = z.object({
  sample_size: z.number().int().positive().default(64), // SD1.5: 64 (512 px)
  in_channels: z.number().int().positive().default(4),
  out_channels: z.number().int().positive().default(4),
  center_input_sample: z.boolean().default(false),
  flip_sin_to_cos: z.boolean().default(true),
  freq_shift: z.number().default(0),
  down_block_types: z.array(z.string()).default(['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']),
  mid_block_type: z.string().nullable().default('UNetMidBlock2DCrossAttn'),
  up_block_types: z.array(z.string()).default(['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D']),
  block_out_channels: z.array(z.number().int().positive()).default([320, 640, 1280, 1280]),
  layers_per_block: z.number().int().positive().default(2),
  downsample_padding: z.number().int().nonnegative().default(1),
  mid_block_scale_factor: z.number().default(1),
  act_fn: z.string().default('silu'),
  norm_num_groups: z.number().int().positive().default(32),
  norm_eps: z.number().positive().default(1e-5),
  cross_attention_dim: z.number().int().positive().default(1280), // SD1.x: 768, SD2: 1024
  transformer_layers_per_block: intOrList.default(1),
  /** SD1.x misnomer: this is the number of heads when num_attention_heads is null. */
  attention_head_dim: intOrList.default(8),
  num_attention_heads: intOrList.nullable().default(null),
  use_linear_projection: z.boolean().default(false),
  only_cross_attention: z.union([z.boolean(), z.array(z.boolean())]).default(false),
  upcast_attention: z.boolean().nullable().default(false),
  resnet_time_scale_shift: z.string().default('default'),
  resnet_out_scale_factor: z.number().default(1),
  time_embedding_type: z.string().default('positional'),
  class_embed_type: z.string().nullable().default(null),
  addition_embed_type: z.string().nullable().default(null),
  conv_in_kernel: z.number().int().positive().default(3),
  conv_out_kernel: z.number().int().positive().default(3),
  _class_name: z.string().optional(),
}).loose();

export type UNetConfig = z.infer<typeof UNetConfigSchema>;

/**
 * Parses a UNet config.json. Features we do not build (class/addition embeddings, other time embeddings,
 * scale-shift resnets) fail here, naming the file and the key.
 * @throws Error naming `origin`, the key, the value and the supported values.
 */
export function parseUNetConfig(json: unknown, origin = 'unet/config.json'): UNetConfig {
  const parsed = UNetConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`${origin}: not a UNet2DConditionModel config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const config = parsed.data;
  const unsupported: [string, unknown, unknown][] = [
    ['time_embedding_type', config.time_embedding_type, 'positional'],
    ['resnet_time_scale_shift', config.resnet_time_scale_shift, 'default'],
    ['class_embed_type', config.class_embed_type, null],
    ['addition_embed_type', config.addition_embed_type, null],
    ['only_cross_attention', config.only_cross_attention, false],
  ];
  for (const [key, value, allowed] of unsupported) {
    if (value !== allowed) {
      throw new Error(`${origin}: ${key} = ${JSON.stringify(value)} is not supported (supported: ${JSON.stringify(allowed)}); this builder covers Stable Diffusion 1.x/2.x UNets.`);
    }
  }
  const blocks = config.block_out_channels.length;
  if (config.down_block_types.length !== blocks || config.up_block_types.length !== blocks) {
    throw new Error(`${origin}: down_block_types (${config.down_block_types.length}), up_block_types (${config.up_block_types.length}) and block_out_channels (${blocks}) must have the same length.`);
  }
  return config;
}

/** Reads and parses `<dir>/config.json`. */
export function loadUNetConfig(path: string): UNetConfig {
  return parseUNetConfig(JSON.parse(readFileSync(path, 'utf8')), path);
}

/** Per-block value of an int-or-list config key. */
export function perBlock(value: number | number[], index: number, key: string, blocks: number): number {
  if (typeof value === 'number') return value;
  if (value.length !== blocks) throw new Error(`UNet config: ${key} has ${value.length} entries but there are ${blocks} blocks.`);
  return value[index];
}

/** Heads per down block: num_attention_heads, or attention_head_dim read as heads (SD1.x convention). */
export function headsPerBlock(config: UNetConfig): number[] {
  const source = config.num_attention_heads ?? config.attention_head_dim;
  const key = config.num_attention_heads ? 'num_attention_heads' : 'attention_head_dim';
  return config.block_out_channels.map((_, i) => perBlock(source, i, key, config.block_out_channels.length));
}

/**
 * Checks config against weight shapes (header only), like stable-diffusion.cpp's detect_from_weights:
 * channels, input/output channels, context width and layer counts. Fails with file + tensor + expected vs found.
 */
export function checkUNetConfigAgainstWeights(config: UNetConfig, weights: WeightSource): void {
  const boc = config.block_out_channels;
  const expect = (name: string, shape: number[], why: string) => {
    const found = weights.shape(name);
    if (!found) throw new Error(`${weights.origin}: tensor ${name} is missing; the config (${why}) expects shape [${shape.join(', ')}].`);
    if (found.join(',') !== shape.join(',')) {
      throw new Error(`${weights.origin}: tensor ${name} has shape [${found.join(', ')}] but config.json (${why}) expects [${shape.join(', ')}]; the config does not belong to these weights.`);
    }
  };
  const k = config.conv_in_kernel;
  expect('conv_in.weight', [boc[0], config.in_channels, k, k], 'in_channels, block_out_channels[0], conv_in_kernel');
  expect('conv_out.weight', [config.out_channels, boc[0], config.conv_out_kernel, config.conv_out_kernel], 'out_channels');
  expect('time_embedding.linear_1.weight', [boc[0] * 4, boc[0]], 'block_out_channels[0]');
  boc.forEach((c, i) => expect(`down_blocks.${i}.resnets.0.conv1.weight`, [c, i === 0 ? boc[0] : boc[i - 1], 3, 3], `block_out_channels[${i}]`));
  config.down_block_types.forEach((type, i) => {
    if (type.startsWith('CrossAttn')) {
      expect(`down_blocks.${i}.attentions.0.transformer_blocks.0.attn2.to_k.weight`, [boc[i], config.cross_attention_dim], 'cross_attention_dim');
      const projIn = weights.shape(`down_blocks.${i}.attentions.0.proj_in.weight`);
      const linearInFile = projIn?.length === 2;
      if (projIn && linearInFile !== config.use_linear_projection) {
        throw new Error(`${weights.origin}: down_blocks.${i}.attentions.0.proj_in.weight has shape [${projIn.join(', ')}] (${linearInFile ? 'linear' : 'conv'}) but use_linear_projection is ${config.use_linear_projection}.`);
      }
    }
  });
  const lastLayer = `down_blocks.0.resnets.${config.layers_per_block - 1}.conv1.weight`;
  if (!weights.has(lastLayer) || weights.has(`down_blocks.0.resnets.${config.layers_per_block}.conv1.weight`)) {
    throw new Error(`${weights.origin}: layers_per_block = ${config.layers_per_block} does not match the resnets stored under down_blocks.0.`);
  }
}

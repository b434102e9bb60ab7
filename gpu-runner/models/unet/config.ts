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
  rejectUnsupported(origin, unsupported, 'UNets');
  const blocks = config.block_out_channels.length;
  if (config.down_block_types.length !== blocks || config.up_block_types.length !== blocks) {
    throw new Error(`${origin}: down_block_types (${config.down_block_types.length}), up_block_types (${config.up_block_types.length}) and block_out_channels (${blocks}) must have the same length.`);
  }
  return config;
}

/**
 * Throws for the first [key, value, only supported value] whose value differs, naming the file and the key.
 * Shared by the UNet and the ControlNet configs, which have the same unsupported features.
 */
export function rejectUnsupported(origin: string, checks: ReadonlyArray<[string, unknown, unknown]>, family: string): void {
  for (const [key, value, allowed] of checks) {
    if (value !== allowed) {
      throw new Error(`${origin}: ${key} = ${JSON.stringify(value)} is not supported (supported: ${JSON.stringify(allowed)}); this builder covers Stable Diffusion 1.x/2.x ${family}.`);
    }
  }
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
export function headsPerBlock(config: Pick<UNetConfig, 'num_attention_heads' | 'attention_head_dim' | 'block_out_channels'>): number[] {
  const source = config.num_attention_heads ?? config.attention_head_dim;
  const key = config.num_attention_heads ? 'num_attention_heads' : 'attention_head_dim';
  return config.block_out_channels.map((_, i) => perBlock(source, i, key, config.block_out_channels.length));
}

/** UNet config keys read off the weight shapes (header only), each with the tensor that decided it. */
export interface DetectedUNetConfig {
  readonly values: Partial<Pick<UNetConfig, 'in_channels' | 'out_channels' | 'block_out_channels' | 'layers_per_block'
    | 'cross_attention_dim' | 'use_linear_projection' | 'down_block_types' | 'up_block_types' | 'conv_in_kernel' | 'conv_out_kernel'
    | 'transformer_layers_per_block'>>;
  /** key -> tensor name that determined it */
  readonly evidence: Record<string, string>;
}

function countIndexed(weights: WeightSource, prefix: string, suffix: string): number {
  let n = 0;
  while (weights.has(`${prefix}${n}${suffix}`)) n++;
  return n;
}

/**
 * Reads a diffusers UNet2DConditionModel's structure from weight shapes (like stable-diffusion.cpp's
 * detect_from_weights): channels per block, input/output channels, kernels, layers per block, context width,
 * linear vs conv projections, which blocks have attention. `prefix` is prepended to every name.
 */
export function detectUNetConfigFromWeights(weights: WeightSource, prefix = ''): DetectedUNetConfig {
  const values: Record<string, unknown> = {};
  const evidence: Record<string, string> = {};
  const shape = (name: string) => weights.shape(prefix + name);
  const found = (key: string, value: unknown, tensor: string) => {
    values[key] = value;
    evidence[key] = tensor;
  };
  const convIn = shape('conv_in.weight');
  const convOut = shape('conv_out.weight');
  if (convIn) {
    found('in_channels', convIn[1], 'conv_in.weight');
    found('conv_in_kernel', convIn[2], 'conv_in.weight');
  }
  if (convOut) {
    found('out_channels', convOut[0], 'conv_out.weight');
    found('conv_out_kernel', convOut[2], 'conv_out.weight');
  }
  const blocks = countIndexed(weights, `${prefix}down_blocks.`, '.resnets.0.conv1.weight');
  const boc: number[] = [];
  const down: string[] = [];
  const up: string[] = [];
  const layers: number[] = [];
  for (let i = 0; i < blocks; i++) {
    boc.push(shape(`down_blocks.${i}.resnets.0.conv1.weight`)![0]);
    const withAttention = weights.has(`${prefix}down_blocks.${i}.attentions.0.proj_in.weight`);
    down.push(withAttention ? 'CrossAttnDownBlock2D' : 'DownBlock2D');
    if (withAttention) {
      layers.push(countIndexed(weights, `${prefix}down_blocks.${i}.attentions.0.transformer_blocks.`, '.norm1.weight'));
      const projIn = `down_blocks.${i}.attentions.0.proj_in.weight`;
      found('use_linear_projection', shape(projIn)!.length === 2, projIn);
      const toK = `down_blocks.${i}.attentions.0.transformer_blocks.0.attn2.to_k.weight`;
      if (shape(toK)) found('cross_attention_dim', shape(toK)![1], toK);
    }
    up.push(weights.has(`${prefix}up_blocks.${i}.attentions.0.proj_in.weight`) ? 'CrossAttnUpBlock2D' : 'UpBlock2D');
  }
  if (blocks > 0) {
    found('block_out_channels', boc, 'down_blocks.*.resnets.0.conv1.weight');
    found('down_block_types', down, 'down_blocks.*.attentions.0.proj_in.weight');
    found('up_block_types', up, 'up_blocks.*.attentions.0.proj_in.weight');
    found('layers_per_block', countIndexed(weights, `${prefix}down_blocks.0.resnets.`, '.conv1.weight'), 'down_blocks.0.resnets.*.conv1.weight');
    if (layers.length > 0 && layers.every((n) => n === layers[0])) {
      found('transformer_layers_per_block', layers[0], 'down_blocks.*.attentions.0.transformer_blocks.*');
    }
  }
  return { values: values as DetectedUNetConfig['values'], evidence };
}

/**
 * Compares config.json with what the weight shapes say (header only). Fails with the weight file, the tensor,
 * the config value and the value found, for the first mismatching key.
 */
export function checkUNetConfigAgainstWeights(config: UNetConfig, weights: WeightSource, prefix = ''): void {
  const detected = detectUNetConfigFromWeights(weights, prefix);
  if (!detected.values.block_out_channels) {
    throw new Error(`${weights.origin}: no tensor ${prefix}down_blocks.0.resnets.0.conv1.weight; this is not a diffusers UNet2DConditionModel weight file.`);
  }
  for (const [key, found] of Object.entries(detected.values)) {
    const configured = (config as Record<string, unknown>)[key];
    const comparable = key === 'transformer_layers_per_block' && Array.isArray(configured) ? found : configured;
    if (JSON.stringify(comparable) !== JSON.stringify(found)) {
      throw new Error(`${weights.origin}: config.json says ${key} = ${JSON.stringify(configured)} but tensor ${prefix}${detected.evidence[key]} says ${JSON.stringify(found)}; the config does not belong to these weights.`);
    }
  }
}

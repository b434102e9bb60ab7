import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { WeightSource } from '../weights.ts';

/** diffusers `AutoencoderKL` config.json with the file's keys and diffusers' defaults. */
export const VAEConfigSchema = z.object({
  in_channels: z.number().int().positive().default(3),
  out_channels: z.number().int().positive().default(3),
  down_block_types: z.array(z.string()).default(['DownEncoderBlock2D']),
  up_block_types: z.array(z.string()).default(['UpDecoderBlock2D']),
  block_out_channels: z.array(z.number().int().positive()).default([64]), // SD1.5: [128, 256, 512, 512]
  layers_per_block: z.number().int().positive().default(1), // SD1.5: 2
  act_fn: z.string().default('silu'),
  latent_channels: z.number().int().positive().default(4),
  norm_num_groups: z.number().int().positive().default(32),
  sample_size: z.number().int().positive().default(32), // SD1.5: 512
  scaling_factor: z.number().positive().default(0.18215),
  mid_block_add_attention: z.boolean().default(true),
  _class_name: z.string().optional(),
}).loose();

export type VAEConfig = z.infer<typeof VAEConfigSchema>;

/** Parses an AutoencoderKL config.json. @throws Error naming `origin` and the offending keys. */
export function parseVAEConfig(json: unknown, origin = 'vae/config.json'): VAEConfig {
  const parsed = VAEConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`${origin}: not an AutoencoderKL config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const config = parsed.data;
  const blocks = config.block_out_channels.length;
  if (config.down_block_types.length !== blocks || config.up_block_types.length !== blocks) {
    throw new Error(`${origin}: down_block_types (${config.down_block_types.length}), up_block_types (${config.up_block_types.length}) and block_out_channels (${blocks}) must have the same length.`);
  }
  return config;
}

export function loadVAEConfig(path: string): VAEConfig {
  return parseVAEConfig(JSON.parse(readFileSync(path, 'utf8')), path);
}

/** VAE config keys read off the weight shapes (header only), with the tensor that decided each. */
export interface DetectedVAEConfig {
  readonly values: Partial<Pick<VAEConfig, 'in_channels' | 'out_channels' | 'block_out_channels' | 'layers_per_block' | 'latent_channels'>>;
  readonly evidence: Record<string, string>;
}

/** Reads AutoencoderKL's structure from weight shapes: channels per block, layers, latent and image channels. */
export function detectVAEConfigFromWeights(weights: WeightSource, prefix = ''): DetectedVAEConfig {
  const values: Record<string, unknown> = {};
  const evidence: Record<string, string> = {};
  const found = (key: string, value: unknown, tensor: string) => { values[key] = value; evidence[key] = tensor; };
  const shape = (name: string) => weights.shape(prefix + name);
  const convIn = shape('encoder.conv_in.weight');
  if (convIn) found('in_channels', convIn[1], 'encoder.conv_in.weight');
  const convOut = shape('decoder.conv_out.weight');
  if (convOut) found('out_channels', convOut[0], 'decoder.conv_out.weight');
  const decIn = shape('decoder.conv_in.weight');
  if (decIn) found('latent_channels', decIn[1], 'decoder.conv_in.weight');
  const boc: number[] = [];
  while (shape(`encoder.down_blocks.${boc.length}.resnets.0.conv1.weight`)) boc.push(shape(`encoder.down_blocks.${boc.length}.resnets.0.conv1.weight`)![0]);
  if (boc.length) {
    found('block_out_channels', boc, 'encoder.down_blocks.*.resnets.0.conv1.weight');
    let layers = 0;
    while (weights.has(`${prefix}encoder.down_blocks.0.resnets.${layers}.conv1.weight`)) layers++;
    found('layers_per_block', layers, 'encoder.down_blocks.0.resnets.*.conv1.weight');
  }
  return { values: values as DetectedVAEConfig['values'], evidence };
}

/** Compares config.json with the weight shapes; fails with file, key, config value, tensor and found value. */
export function checkVAEConfigAgainstWeights(config: VAEConfig, weights: WeightSource, prefix = ''): void {
  const detected = detectVAEConfigFromWeights(weights, prefix);
  if (!detected.values.block_out_channels) {
    throw new Error(`${weights.origin}: no tensor ${prefix}encoder.down_blocks.0.resnets.0.conv1.weight; this is not a diffusers AutoencoderKL weight file.`);
  }
  for (const [key, found] of Object.entries(detected.values)) {
    const configured = (config as Record<string, unknown>)[key];
    if (JSON.stringify(configured) !== JSON.stringify(found)) {
      throw new Error(`${weights.origin}: config.json says ${key} = ${JSON.stringify(configured)} but tensor ${prefix}${detected.evidence[key]} says ${JSON.stringify(found)}; the config does not belong to these weights.`);
    }
  }
}

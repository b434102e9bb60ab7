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

/** Compares the config with weight shapes (header only); fails with file + tensor + expected vs found. */
export function checkVAEConfigAgainstWeights(config: VAEConfig, weights: WeightSource): void {
  const boc = config.block_out_channels;
  const last = boc[boc.length - 1];
  const expectations: [string, number[], string][] = [
    ['encoder.conv_in.weight', [boc[0], config.in_channels, 3, 3], 'in_channels, block_out_channels[0]'],
    ['encoder.conv_out.weight', [2 * config.latent_channels, last, 3, 3], 'latent_channels, block_out_channels[-1]'],
    ['decoder.conv_in.weight', [last, config.latent_channels, 3, 3], 'latent_channels'],
    ['decoder.conv_out.weight', [config.out_channels, boc[0], 3, 3], 'out_channels'],
    ['quant_conv.weight', [2 * config.latent_channels, 2 * config.latent_channels, 1, 1], 'latent_channels'],
  ];
  for (const [name, shape, why] of expectations) {
    const found = weights.shape(name);
    if (!found || found.join(',') !== shape.join(',')) {
      throw new Error(`${weights.origin}: tensor ${name} has shape ${found ? `[${found.join(', ')}]` : 'absent'} but config.json (${why}) expects [${shape.join(', ')}].`);
    }
  }
}

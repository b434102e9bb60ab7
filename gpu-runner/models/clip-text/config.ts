import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { WeightSource } from '../weights.ts';

/** transformers `CLIPTextConfig` (config.json of text_encoder/) with the file's keys and defaults. */
export const CLIPTextConfigSchema = z.object({
  vocab_size: z.number().int().positive().default(49408),
  hidden_size: z.number().int().positive().default(512), // SD1.x (CLIP ViT-L/14): 768
  intermediate_size: z.number().int().positive().default(2048), // SD1.x: 3072
  num_hidden_layers: z.number().int().positive().default(12),
  num_attention_heads: z.number().int().positive().default(8), // SD1.x: 12
  max_position_embeddings: z.number().int().positive().default(77),
  hidden_act: z.string().default('quick_gelu'),
  layer_norm_eps: z.number().positive().default(1e-5),
}).loose();

export type CLIPTextConfig = z.infer<typeof CLIPTextConfigSchema>;

/** Parses a CLIPTextModel config.json. @throws Error naming `origin` and the offending keys. */
export function parseCLIPTextConfig(json: unknown, origin = 'text_encoder/config.json'): CLIPTextConfig {
  const parsed = CLIPTextConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`${origin}: not a CLIPTextModel config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const config = parsed.data;
  if (config.hidden_size % config.num_attention_heads !== 0) {
    throw new Error(`${origin}: hidden_size ${config.hidden_size} is not divisible by num_attention_heads ${config.num_attention_heads}.`);
  }
  return config;
}

export function loadCLIPTextConfig(path: string): CLIPTextConfig {
  return parseCLIPTextConfig(JSON.parse(readFileSync(path, 'utf8')), path);
}

/** Compares the config with weight shapes (header only); fails with file + tensor + expected vs found. */
export function checkCLIPTextConfigAgainstWeights(config: CLIPTextConfig, weights: WeightSource): void {
  const c = config.hidden_size;
  const last = config.num_hidden_layers - 1;
  const expectations: [string, number[], string][] = [
    ['text_model.embeddings.token_embedding.weight', [config.vocab_size, c], 'vocab_size, hidden_size'],
    ['text_model.embeddings.position_embedding.weight', [config.max_position_embeddings, c], 'max_position_embeddings'],
    [`text_model.encoder.layers.${last}.mlp.fc1.weight`, [config.intermediate_size, c], 'num_hidden_layers, intermediate_size'],
  ];
  for (const [name, shape, why] of expectations) {
    const found = weights.shape(name);
    if (!found || found.join(',') !== shape.join(',')) {
      throw new Error(`${weights.origin}: tensor ${name} has shape ${found ? `[${found.join(', ')}]` : 'absent'} but config.json (${why}) expects [${shape.join(', ')}].`);
    }
  }
  if (weights.has(`text_model.encoder.layers.${config.num_hidden_layers}.mlp.fc1.weight`)) {
    throw new Error(`${weights.origin}: holds more than num_hidden_layers = ${config.num_hidden_layers} layers; the config does not belong to these weights.`);
  }
}

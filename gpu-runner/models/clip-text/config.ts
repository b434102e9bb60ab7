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

/** CLIP text config keys read off the weight shapes (header only), with the tensor that decided each. */
export interface DetectedCLIPTextConfig {
  readonly values: Partial<Pick<CLIPTextConfig, 'vocab_size' | 'hidden_size' | 'intermediate_size' | 'num_hidden_layers' | 'max_position_embeddings'>>;
  readonly evidence: Record<string, string>;
}

/** Reads CLIPTextModel's sizes from weight shapes: vocabulary, width, MLP width, layers, positions. */
export function detectCLIPTextConfigFromWeights(weights: WeightSource, prefix = ''): DetectedCLIPTextConfig {
  const values: Record<string, unknown> = {};
  const evidence: Record<string, string> = {};
  const found = (key: string, value: unknown, tensor: string) => { values[key] = value; evidence[key] = tensor; };
  const shape = (name: string) => weights.shape(prefix + name);
  const tokens = shape('text_model.embeddings.token_embedding.weight');
  if (tokens) {
    found('vocab_size', tokens[0], 'text_model.embeddings.token_embedding.weight');
    found('hidden_size', tokens[1], 'text_model.embeddings.token_embedding.weight');
  }
  const positions = shape('text_model.embeddings.position_embedding.weight');
  if (positions) found('max_position_embeddings', positions[0], 'text_model.embeddings.position_embedding.weight');
  const fc1 = shape('text_model.encoder.layers.0.mlp.fc1.weight');
  if (fc1) found('intermediate_size', fc1[0], 'text_model.encoder.layers.0.mlp.fc1.weight');
  let layers = 0;
  while (weights.has(`${prefix}text_model.encoder.layers.${layers}.mlp.fc1.weight`)) layers++;
  if (layers) found('num_hidden_layers', layers, 'text_model.encoder.layers.*.mlp.fc1.weight');
  return { values: values as DetectedCLIPTextConfig['values'], evidence };
}

/** Compares config.json with the weight shapes; fails with file, key, config value, tensor and found value. */
export function checkCLIPTextConfigAgainstWeights(config: CLIPTextConfig, weights: WeightSource, prefix = ''): void {
  const detected = detectCLIPTextConfigFromWeights(weights, prefix);
  if (detected.values.hidden_size === undefined) {
    throw new Error(`${weights.origin}: no tensor ${prefix}text_model.embeddings.token_embedding.weight; this is not a transformers CLIPTextModel weight file.`);
  }
  for (const [key, found] of Object.entries(detected.values)) {
    const configured = (config as Record<string, unknown>)[key];
    if (configured !== found) {
      throw new Error(`${weights.origin}: config.json says ${key} = ${JSON.stringify(configured)} but tensor ${prefix}${detected.evidence[key]} says ${JSON.stringify(found)}; the config does not belong to these weights.`);
    }
  }
}

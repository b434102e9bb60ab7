import { GraphBuilder, type GraphModel } from '../../graph/builder.ts';
import { activation } from '../blocks/activations.ts';
import { attentionCore } from '../blocks/attention.ts';
import type { BlockContext } from '../blocks/context.ts';
import { layerNorm, linear } from '../blocks/layers.ts';
import type { WeightSource } from '../weights.ts';
import type { CLIPTextConfig } from './config.ts';

export interface TextEncoderGraphOptions {
  /** Tokens per prompt. @default max_position_embeddings (77) */
  readonly sequenceLength?: number;
  readonly initializers?: 'keep' | 'discard';
  readonly weightStorage?: 'float32' | 'float16';
}

/** Large negative instead of -inf so masked rows never produce NaN (what transformers adds: finfo.min). */
const MASKED = -3.4028234663852886e38;

/**
 * transformers `CLIPTextModel` up to `last_hidden_state` (after final_layer_norm), causal mask only.
 * Input input_ids int64 [B, L]; output last_hidden_state float32 [B, L, hidden].
 */
export function buildTextEncoderGraph(config: CLIPTextConfig, weights: WeightSource, options: TextEncoderGraphOptions = {}): GraphModel {
  const L = options.sequenceLength ?? config.max_position_embeddings;
  if (L > config.max_position_embeddings) {
    throw new Error(`Text encoder sequenceLength ${L} exceeds max_position_embeddings ${config.max_position_embeddings}.`);
  }
  const C = config.hidden_size;
  const g = new GraphBuilder({ name: 'text_encoder', initializers: options.initializers, weightStorage: options.weightStorage });
  const ctx: BlockContext = { g, weights };
  const ids = g.input('input_ids', 'int64', ['batch', L]);

  // embeddings
  const tokenName = 'text_model.embeddings.token_embedding.weight';
  const positionName = 'text_model.embeddings.position_embedding.weight';
  const tokenTable = g.weight(tokenName, weights.get(tokenName, [config.vocab_size, C]), [config.vocab_size, C]);
  const positionTable = g.weight(positionName, weights.get(positionName, [config.max_position_embeddings, C]), [config.max_position_embeddings, C]);
  const positions = L === config.max_position_embeddings ? positionTable : g.slice(positionTable, [0], [L], [0]); // [L, C]
  let h = g.add(g.gather(tokenTable, ids, 0), positions); // [B, L, C]

  // causal mask: key j > query i is masked
  const mask = new Float32Array(L * L);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) mask[i * L + j] = MASKED;
  const causal = g.constFloat(mask, [L, L]);

  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    const p = `text_model.encoder.layers.${layer}`;
    g.scope(p, () => {
      const x = layerNorm(ctx, `${p}.layer_norm1`, h, C, config.layer_norm_eps);
      const q = linear(ctx, `${p}.self_attn.q_proj`, x, C, C); // [B, L, C]
      const k = linear(ctx, `${p}.self_attn.k_proj`, x, C, C);
      const v = linear(ctx, `${p}.self_attn.v_proj`, x, C, C);
      const attended = attentionCore(g, q, k, v, C, L, L, { heads: config.num_attention_heads, path: 'explicit', mask: causal }); // [B, L, C]
      h = g.add(h, linear(ctx, `${p}.self_attn.out_proj`, attended, C, C));
      const y = layerNorm(ctx, `${p}.layer_norm2`, h, C, config.layer_norm_eps);
      const inner = activation(g, config.hidden_act, linear(ctx, `${p}.mlp.fc1`, y, C, config.intermediate_size)); // [B, L, I]
      h = g.add(h, linear(ctx, `${p}.mlp.fc2`, inner, config.intermediate_size, C)); // [B, L, C]
    });
  }
  const out = layerNorm(ctx, 'text_model.final_layer_norm', h, C, config.layer_norm_eps); // [B, L, C]
  g.output(out, 'last_hidden_state', 'float32', ['batch', L, C]);
  return g.build();
}

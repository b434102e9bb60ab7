/**
 * The parameter tables of the diffusers/transformers checkpoints: every (name, shape) a component's
 * safetensors file holds for a given config. The random-bundle generators write exactly these, and tests
 * check them against the reference model's real files, so a generated bundle has the layout users'
 * checkpoints have (not merely what our own builders happen to ask for).
 */
import { controlNetDownPathConfig, type ControlNetConfig } from '../controlnet/config.ts';
import { perBlock } from '../unet/config.ts';
import type { CLIPTextConfig, UNetConfig, VAEConfig } from './configs.ts';

/** One checkpoint tensor. `dtype` is F32 except for int64 buffers such as CLIP's position_ids. */
export interface ParameterSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'F32' | 'I64';
}

type Table = ParameterSpec[];

function param(table: Table, name: string, shape: number[]): void {
  table.push({ name, shape, dtype: 'F32' });
}

/** weight [out, in, k, k] + bias [out] */
function conv(table: Table, prefix: string, inChannels: number, outChannels: number, kernel: number): void {
  param(table, `${prefix}.weight`, [outChannels, inChannels, kernel, kernel]);
  param(table, `${prefix}.bias`, [outChannels]);
}

/** weight [out, in] (+ bias [out]) */
function linear(table: Table, prefix: string, inFeatures: number, outFeatures: number, bias = true): void {
  param(table, `${prefix}.weight`, [outFeatures, inFeatures]);
  if (bias) param(table, `${prefix}.bias`, [outFeatures]);
}

/** GroupNorm / LayerNorm affine: weight [C] + bias [C] */
function norm(table: Table, prefix: string, channels: number): void {
  param(table, `${prefix}.weight`, [channels]);
  param(table, `${prefix}.bias`, [channels]);
}

/** ResnetBlock2D; `timeEmbeddingDim` undefined for the VAE's resnets (no time_emb_proj). */
function resnet(table: Table, prefix: string, inChannels: number, outChannels: number, timeEmbeddingDim?: number): void {
  norm(table, `${prefix}.norm1`, inChannels);
  conv(table, `${prefix}.conv1`, inChannels, outChannels, 3);
  if (timeEmbeddingDim !== undefined) linear(table, `${prefix}.time_emb_proj`, timeEmbeddingDim, outChannels);
  norm(table, `${prefix}.norm2`, outChannels);
  conv(table, `${prefix}.conv2`, outChannels, outChannels, 3);
  if (inChannels !== outChannels) conv(table, `${prefix}.conv_shortcut`, inChannels, outChannels, 1);
}

/** Transformer2DModel: `layers` BasicTransformerBlocks (self-attn, cross-attn, GEGLU feed-forward). */
function transformer(table: Table, prefix: string, channels: number, config: Pick<UNetConfig, 'use_linear_projection' | 'cross_attention_dim'>, layers: number): void {
  norm(table, `${prefix}.norm`, channels);
  const projection = (name: string): void => (config.use_linear_projection
    ? linear(table, `${prefix}.${name}`, channels, channels)
    : conv(table, `${prefix}.${name}`, channels, channels, 1));
  projection('proj_in');
  for (let k = 0; k < layers; k++) {
    const block = `${prefix}.transformer_blocks.${k}`;
    for (const [attn, contextDim] of [['attn1', channels], ['attn2', config.cross_attention_dim]] as const) {
      linear(table, `${block}.${attn}.to_q`, channels, channels, false);
      linear(table, `${block}.${attn}.to_k`, contextDim, channels, false);
      linear(table, `${block}.${attn}.to_v`, contextDim, channels, false);
      linear(table, `${block}.${attn}.to_out.0`, channels, channels);
    }
    linear(table, `${block}.ff.net.0.proj`, channels, channels * 8);
    linear(table, `${block}.ff.net.2`, channels * 4, channels);
    for (const n of ['norm1', 'norm2', 'norm3']) norm(table, `${block}.${n}`, channels);
  }
  projection('proj_out');
}

/** The config keys of the encoder half the UNet and the ControlNet share. */
type DownPathKeys = Pick<UNetConfig, 'in_channels' | 'conv_in_kernel' | 'block_out_channels' | 'layers_per_block'
  | 'transformer_layers_per_block' | 'down_block_types' | 'use_linear_projection' | 'cross_attention_dim'>;

/** conv_in, the time embedding, the down blocks and the mid block (UNet2DConditionModel and ControlNetModel alike). */
function downPathParameters(table: Table, config: DownPathKeys): void {
  const channels = config.block_out_channels;
  const temb = channels[0] * 4;
  const layers = config.layers_per_block;
  const last = channels.length - 1;
  const transformerLayers = channels.map((_, i) => perBlock(config.transformer_layers_per_block, i, 'transformer_layers_per_block', channels.length));

  conv(table, 'conv_in', config.in_channels, channels[0], config.conv_in_kernel);
  linear(table, 'time_embedding.linear_1', channels[0], temb);
  linear(table, 'time_embedding.linear_2', temb, temb);

  let output = channels[0];
  config.down_block_types.forEach((type, i) => {
    const input = output;
    output = channels[i];
    for (let j = 0; j < layers; j++) {
      resnet(table, `down_blocks.${i}.resnets.${j}`, j === 0 ? input : output, output, temb);
      if (type === 'CrossAttnDownBlock2D') transformer(table, `down_blocks.${i}.attentions.${j}`, output, config, transformerLayers[i]);
    }
    if (i < last) conv(table, `down_blocks.${i}.downsamplers.0.conv`, output, output, 3);
  });

  resnet(table, 'mid_block.resnets.0', channels[last], channels[last], temb);
  transformer(table, 'mid_block.attentions.0', channels[last], config, transformerLayers[last]);
  resnet(table, 'mid_block.resnets.1', channels[last], channels[last], temb);
}

/** Parameters of `UNet2DConditionModel` for `config` (down/up block channel bookkeeping as diffusers does it). */
export function unetParameters(config: UNetConfig): ParameterSpec[] {
  const table: Table = [];
  const channels = config.block_out_channels;
  const temb = channels[0] * 4;
  const layers = config.layers_per_block;
  const last = channels.length - 1;
  // transformer_layers_per_block may be per block; up blocks mirror down blocks, the mid block takes the last.
  const transformerLayers = channels.map((_, i) => perBlock(config.transformer_layers_per_block, i, 'transformer_layers_per_block', channels.length));
  downPathParameters(table, config);

  const reversed = [...channels].reverse();
  let previous = reversed[0];
  config.up_block_types.forEach((type, i) => {
    const out = reversed[i];
    const skipInput = reversed[Math.min(i + 1, last)];
    for (let j = 0; j <= layers; j++) {
      const skip = j === layers ? skipInput : out;
      const resnetIn = j === 0 ? previous : out;
      resnet(table, `up_blocks.${i}.resnets.${j}`, resnetIn + skip, out, temb);
      if (type === 'CrossAttnUpBlock2D') transformer(table, `up_blocks.${i}.attentions.${j}`, out, config, transformerLayers[last - i]);
    }
    if (i < last) conv(table, `up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
    previous = out;
  });

  norm(table, 'conv_norm_out', channels[0]);
  conv(table, 'conv_out', channels[0], config.out_channels, config.conv_out_kernel);
  return table;
}

/**
 * Parameters of diffusers' `ControlNetModel` for `config`: the UNet's encoder half, the conditioning embedding,
 * and one 1x1 zero convolution per skip feature plus one for the mid block.
 */
export function controlNetParameters(config: ControlNetConfig): ParameterSpec[] {
  const table: Table = [];
  const channels = config.block_out_channels;
  downPathParameters(table, controlNetDownPathConfig(config));
  const widths = config.conditioning_embedding_out_channels;
  const embedding = 'controlnet_cond_embedding';
  conv(table, `${embedding}.conv_in`, config.conditioning_channels, widths[0], 3);
  for (let i = 0; i < widths.length - 1; i++) {
    conv(table, `${embedding}.blocks.${2 * i}`, widths[i], widths[i], 3);
    conv(table, `${embedding}.blocks.${2 * i + 1}`, widths[i], widths[i + 1], 3);
  }
  conv(table, `${embedding}.conv_out`, widths[widths.length - 1], channels[0], 3);
  // zero convolutions: conv_in's output, then per level its resnets and (but the last) its downsampler
  const skipChannels = [channels[0]];
  channels.forEach((width, i) => {
    for (let j = 0; j < config.layers_per_block; j++) skipChannels.push(width);
    if (i < channels.length - 1) skipChannels.push(width);
  });
  skipChannels.forEach((width, i) => conv(table, `controlnet_down_blocks.${i}`, width, width, 1));
  conv(table, 'controlnet_mid_block', channels[channels.length - 1], channels[channels.length - 1], 1);
  return table;
}

/** The VAE mid block: resnet, single-head attention with biased projections, resnet. */
function vaeMidBlock(table: Table, prefix: string, channels: number, attention: boolean): void {
  resnet(table, `${prefix}.resnets.0`, channels, channels);
  if (attention) {
    const attn = `${prefix}.attentions.0`;
    norm(table, `${attn}.group_norm`, channels);
    for (const name of ['to_q', 'to_k', 'to_v', 'to_out.0']) linear(table, `${attn}.${name}`, channels, channels);
  }
  resnet(table, `${prefix}.resnets.1`, channels, channels);
}

/** Parameters of `AutoencoderKL` for `config` (current attention names). */
export function vaeParameters(config: VAEConfig): ParameterSpec[] {
  const table: Table = [];
  const channels = config.block_out_channels;
  const last = channels.length - 1;
  const layers = config.layers_per_block;
  const latent = config.latent_channels;

  conv(table, 'encoder.conv_in', config.in_channels, channels[0], 3);
  let output = channels[0];
  channels.forEach((out, i) => {
    const input = output;
    output = out;
    for (let j = 0; j < layers; j++) resnet(table, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? input : out, out);
    if (i < last) conv(table, `encoder.down_blocks.${i}.downsamplers.0.conv`, out, out, 3);
  });
  vaeMidBlock(table, 'encoder.mid_block', channels[last], config.mid_block_add_attention);
  norm(table, 'encoder.conv_norm_out', channels[last]);
  conv(table, 'encoder.conv_out', channels[last], 2 * latent, 3);
  conv(table, 'quant_conv', 2 * latent, 2 * latent, 1);

  conv(table, 'post_quant_conv', latent, latent, 1);
  conv(table, 'decoder.conv_in', latent, channels[last], 3);
  vaeMidBlock(table, 'decoder.mid_block', channels[last], config.mid_block_add_attention);
  const reversed = [...channels].reverse();
  let previous = reversed[0];
  reversed.forEach((out, i) => {
    for (let j = 0; j <= layers; j++) resnet(table, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? previous : out, out);
    if (i < last) conv(table, `decoder.up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
    previous = out;
  });
  norm(table, 'decoder.conv_norm_out', channels[0]);
  conv(table, 'decoder.conv_out', channels[0], config.out_channels, 3);
  return table;
}

/** Parameters of transformers' `CLIPTextModel`, plus the `position_ids` buffer SD1.5's file carries. */
export function clipTextParameters(config: CLIPTextConfig): ParameterSpec[] {
  const table: Table = [];
  const hidden = config.hidden_size;
  param(table, 'text_model.embeddings.token_embedding.weight', [config.vocab_size, hidden]);
  param(table, 'text_model.embeddings.position_embedding.weight', [config.max_position_embeddings, hidden]);
  table.push({ name: 'text_model.embeddings.position_ids', shape: [1, config.max_position_embeddings], dtype: 'I64' });
  for (let k = 0; k < config.num_hidden_layers; k++) {
    const layer = `text_model.encoder.layers.${k}`;
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(table, `${layer}.self_attn.${p}`, hidden, hidden);
    norm(table, `${layer}.layer_norm1`, hidden);
    linear(table, `${layer}.mlp.fc1`, hidden, config.intermediate_size);
    linear(table, `${layer}.mlp.fc2`, config.intermediate_size, hidden);
    norm(table, `${layer}.layer_norm2`, hidden);
  }
  norm(table, 'text_model.final_layer_norm', hidden);
  return table;
}

/** Total element count of the float parameters in a table. */
export function parameterCount(table: readonly ParameterSpec[]): number {
  return table.filter((p) => p.dtype === 'F32').reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0);
}

/**
 * Full component configs in the form diffusers 0.27 / transformers 4.31 write them, for SD1.5 and for our
 * tiny test bundle. SD1.5 values: reference-algorithms.md §5 (runwayml/stable-diffusion-v1-5).
 */
import type { ControlNetConfig } from '../controlnet/config.ts';
import type { CLIPTextConfig, UNetConfig, VAEConfig } from './configs.ts';

/** SD1.5's `unet/config.json`. */
export const SD15_UNET_CONFIG = Object.freeze({
  _class_name: 'UNet2DConditionModel',
  _diffusers_version: '0.27.2',
  act_fn: 'silu',
  addition_embed_type: null,
  addition_embed_type_num_heads: 64,
  addition_time_embed_dim: null,
  attention_head_dim: 8,
  attention_type: 'default',
  block_out_channels: [320, 640, 1280, 1280],
  center_input_sample: false,
  class_embed_type: null,
  class_embeddings_concat: false,
  conv_in_kernel: 3,
  conv_out_kernel: 3,
  cross_attention_dim: 768,
  cross_attention_norm: null,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1,
  dropout: 0.0,
  dual_cross_attention: false,
  encoder_hid_dim: null,
  encoder_hid_dim_type: null,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_only_cross_attention: null,
  mid_block_scale_factor: 1,
  mid_block_type: 'UNetMidBlock2DCrossAttn',
  norm_eps: 1e-5,
  norm_num_groups: 32,
  num_attention_heads: null,
  num_class_embeds: null,
  only_cross_attention: false,
  out_channels: 4,
  projection_class_embeddings_input_dim: null,
  resnet_out_scale_factor: 1.0,
  resnet_skip_time_act: false,
  resnet_time_scale_shift: 'default',
  reverse_transformer_layers_per_block: null,
  sample_size: 64,
  time_cond_proj_dim: null,
  time_embedding_act_fn: null,
  time_embedding_dim: null,
  time_embedding_type: 'positional',
  timestep_post_act: null,
  transformer_layers_per_block: 1,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  upcast_attention: false,
  use_linear_projection: false,
}) as unknown as UNetConfig;

/** SD1.5's `vae/config.json`. */
export const SD15_VAE_CONFIG = Object.freeze({
  _class_name: 'AutoencoderKL',
  _diffusers_version: '0.27.2',
  act_fn: 'silu',
  block_out_channels: [128, 256, 512, 512],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  force_upcast: true,
  in_channels: 3,
  latent_channels: 4,
  latents_mean: null,
  latents_std: null,
  layers_per_block: 2,
  norm_num_groups: 32,
  out_channels: 3,
  sample_size: 512,
  scaling_factor: 0.18215,
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
}) as unknown as VAEConfig;

/** SD1.5's `text_encoder/config.json` (CLIP ViT-L/14 text tower). */
export const SD15_TEXT_ENCODER_CONFIG = Object.freeze({
  architectures: ['CLIPTextModel'],
  attention_dropout: 0.0,
  bos_token_id: 0,
  dropout: 0.0,
  eos_token_id: 2,
  hidden_act: 'quick_gelu',
  hidden_size: 768,
  initializer_factor: 1.0,
  initializer_range: 0.02,
  intermediate_size: 3072,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 77,
  model_type: 'clip_text_model',
  num_attention_heads: 12,
  num_hidden_layers: 12,
  pad_token_id: 1,
  projection_dim: 768,
  torch_dtype: 'float32',
  transformers_version: '4.31.0',
  vocab_size: 49408,
}) as unknown as CLIPTextConfig;

/**
 * The tiny bundle's UNet: SD1.5's structure (three levels so cross-attention runs at 32x32, 16x16 and in
 * the mid block at 8x8; a plain DownBlock2D/UpBlock2D level; conv shortcuts where channels change) with
 * 32/64/64 channels, 4 heads (head dim 8/16), 8 norm groups and 32-dim text context.
 */
export const TINY_UNET_CONFIG = Object.freeze({
  ...SD15_UNET_CONFIG,
  attention_head_dim: 4,
  block_out_channels: [32, 64, 64],
  cross_attention_dim: 32,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  layers_per_block: 1,
  norm_num_groups: 8,
  sample_size: 32,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
}) as unknown as UNetConfig;

/** The tiny bundle's VAE: four blocks (scale factor 8, like SD) of 16/32/32/32 channels, 8 norm groups. */
export const TINY_VAE_CONFIG = Object.freeze({
  ...SD15_VAE_CONFIG,
  block_out_channels: [16, 32, 32, 32],
  layers_per_block: 1,
  norm_num_groups: 8,
  sample_size: 256,
}) as unknown as VAEConfig;

/** The tiny bundle's text encoder: CLIP-L layout, hidden 32, 3 layers, 4 heads, the real 49408 vocab. */
export const TINY_TEXT_ENCODER_CONFIG = Object.freeze({
  ...SD15_TEXT_ENCODER_CONFIG,
  hidden_size: 32,
  intermediate_size: 64,
  num_attention_heads: 4,
  num_hidden_layers: 3,
  projection_dim: 32,
}) as unknown as CLIPTextConfig;

/** The config.json keys diffusers' ControlNetModel shares with UNet2DConditionModel (it copies the UNet's encoder half). */
const CONTROLNET_SHARED_UNET_KEYS = [
  'act_fn', 'addition_embed_type', 'addition_embed_type_num_heads', 'addition_time_embed_dim', 'attention_head_dim',
  'block_out_channels', 'class_embed_type', 'cross_attention_dim', 'down_block_types', 'downsample_padding',
  'encoder_hid_dim', 'encoder_hid_dim_type', 'flip_sin_to_cos', 'freq_shift', 'in_channels', 'layers_per_block',
  'mid_block_scale_factor', 'mid_block_type', 'norm_eps', 'norm_num_groups', 'num_attention_heads', 'num_class_embeds',
  'only_cross_attention', 'projection_class_embeddings_input_dim', 'resnet_time_scale_shift',
  'transformer_layers_per_block', 'upcast_attention', 'use_linear_projection',
] as const;

/** SD1.5's ControlNet `config.json` (lllyasviel's sd-controlnet-* as diffusers 0.27 writes it): SD1.5's UNet values plus the conditioning embedding's. */
export const SD15_CONTROLNET_CONFIG = Object.freeze({
  _class_name: 'ControlNetModel',
  _diffusers_version: '0.27.2',
  ...Object.fromEntries(CONTROLNET_SHARED_UNET_KEYS.map((key) => [key, (SD15_UNET_CONFIG as Record<string, unknown>)[key]])),
  conditioning_channels: 3,
  conditioning_embedding_out_channels: [16, 32, 96, 256],
  controlnet_conditioning_channel_order: 'rgb',
  global_pool_conditions: false,
}) as unknown as ControlNetConfig;

/** A ControlNet for the tiny bundle's UNet: its encoder half's config, a control image 8x the latent. */
export const TINY_CONTROLNET_CONFIG = Object.freeze({
  ...SD15_CONTROLNET_CONFIG,
  attention_head_dim: TINY_UNET_CONFIG.attention_head_dim,
  block_out_channels: TINY_UNET_CONFIG.block_out_channels,
  conditioning_embedding_out_channels: [8, 16, 32, 32],
  cross_attention_dim: TINY_UNET_CONFIG.cross_attention_dim,
  down_block_types: TINY_UNET_CONFIG.down_block_types,
  layers_per_block: TINY_UNET_CONFIG.layers_per_block,
  norm_num_groups: TINY_UNET_CONFIG.norm_num_groups,
}) as unknown as ControlNetConfig;

/**
 * SD1.5's UNet topology in miniature, for tests that must run the code paths SD1.5 runs at 512 px: four levels
 * (three with cross-attention, a plain fourth), two layers per block, the mid block at the deepest level. With
 * its VAE's scale factor 2, 128 px frames give 64x64 latents, so FateZero's rules land where they land on SD1.5
 * at 512 px: the 64x64 level is not controlled, the blend maps are the 16x16 level's five, and cross-frame
 * attention starts at the second block width (SD1.5's 640).
 */
export const SD15_TOPOLOGY_UNET_CONFIG = Object.freeze({
  ...SD15_UNET_CONFIG,
  attention_head_dim: 2,
  block_out_channels: [8, 16, 32, 32],
  cross_attention_dim: 32,
  norm_num_groups: 4,
  sample_size: 64,
}) as unknown as UNetConfig;

/** The topology bundle's VAE: two blocks (scale factor 2) of 8/16 channels. */
export const SD15_TOPOLOGY_VAE_CONFIG = Object.freeze({
  ...SD15_VAE_CONFIG,
  block_out_channels: [8, 16],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
  layers_per_block: 1,
  norm_num_groups: 4,
  sample_size: 128,
}) as unknown as VAEConfig;

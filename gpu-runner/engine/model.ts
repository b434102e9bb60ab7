/**
 * What the edit pipeline needs from a loaded model, as an interface: the pipeline is composed from these parts
 * (style.md habit 7) and never opens files or sessions itself. `load-model.ts` builds the real one from a
 * diffusers folder; tests may inject their own.
 */
import type { AttentionHooks } from '../models/unet/hooks.ts';

/** A float32 tensor: data + dims. */
export interface Tensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** An int64 tensor (token-merge plans, timesteps). */
export interface IntTensor {
  readonly int64: BigInt64Array | readonly number[];
  readonly dims: readonly number[];
}

/** Tokenizer functions the engine uses (CLIP BPE, SD1.x padding). */
export interface PromptTokenizer {
  /** 77 ids (BOS, tokens, EOS, padded with EOS) and whether the prompt was cut. */
  encodeForModel(text: string): { ids: number[]; truncated: boolean };
  /** Unpadded ids with BOS and EOS (at most 77). */
  encodeUnpadded(text: string): number[];
  /** The prompt's space-separated words and, for each, its token positions in the 77-token encoding. */
  words(text: string): { words: string[]; tokenPositions: number[][] };
}

/** How a UNet graph variant is built. The key must identify everything that changes the graph. */
export interface UNetVariant {
  /** Stable identity for caching (e.g. 'edit-f8-32x32-tome0.5'). */
  readonly key: string;
  readonly frames: number;
  /** latent grid */
  readonly height: number;
  readonly width: number;
  /** Self-attention of blocks at least this wide reads the middle frame. @default - the model's second block width */
  readonly crossFrameMinChannels?: number;
  /** GroupNorm statistics of the ResNet blocks and output norm: over the clip or per frame. @default 'frame' */
  readonly groupNorm?: 'clip' | 'frame';
  /** Hooks factory: called once when the graph is built (fresh state per build). */
  readonly hooks?: () => AttentionHooks;
  /** JSON-able description of what the hooks did (e.g. the controlled sites), saved with the cached graph. */
  readonly describe?: () => unknown;
  /** ControlVideo: every self-attention spans the `frames` frames of its group. @default false */
  readonly fullCrossFrame?: boolean;
  /** With `fullCrossFrame`: keys/values from the first `keyFrames` frames of a group only (hierarchical sampler). */
  readonly keyFrames?: number;
  /** Query rows per attention chunk for this graph, over the load option's (bounded memory). @default - the load option's */
  readonly attentionQueryChunk?: number;
  /** Take a ControlNet's residuals as inputs (UNet only). @default false */
  readonly controlResiduals?: boolean;
}

/** What the engine knows about a loaded ControlNet. */
export interface ControlNetFacts {
  /** control image pixels per latent pixel (8 for SD1.5 ControlNets) */
  readonly conditioningScaleFactor: number;
  /** graph output names in diffusers' order (down_block_res_samples.{i}, mid_block_res_sample) */
  readonly outputNames: readonly string[];
  /** the UNet input each output feeds */
  readonly unetInputName: (output: string) => string;
  /** content hash of the ControlNet weights, for the report */
  readonly identity: string;
}

/** A ControlNet loaded beside the model: its graphs per variant (the UNetVariant fields but `controlResiduals`). */
export interface ControlNetPart {
  readonly facts: ControlNetFacts;
  graph(variant: Omit<UNetVariant, 'controlResiduals'>): Promise<UNetRunner>;
}

/** One UNet graph ready to run. Feeds/outputs by name; `sample`, `timestep`, `encoder_hidden_states` -> `out_sample`. */
export interface UNetRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** What `UNetVariant.describe` returned when the graph was built (null when it had none). */
  readonly meta: unknown;
  run(feeds: Readonly<Record<string, Tensor | IntTensor>>): Promise<Record<string, Tensor | IntTensor>>;
}

/** Facts about the bundle the pipeline needs. */
export interface ModelFacts {
  /** pixels per latent pixel (8 for SD) */
  readonly vaeScaleFactor: number;
  /** 0.18215 for SD1.x */
  readonly scalingFactor: number;
  readonly latentChannels: number;
  /** text context width (768 for SD1.x) */
  readonly contextChannels: number;
  /** default working size in pixels (short side) */
  readonly defaultSize: number;
  /** UNet block widths (block_out_channels), for levels and cross-frame attention */
  readonly blockChannels: readonly number[];
  /** Levels that carry attention layers (cross-attention present). */
  readonly attentionLevels: readonly number[];
  /** content hash of the bundle, for the report */
  readonly identity: string;
  /** The device the sessions run on and how it was chosen, e.g. 'webgpu (asked auto; cuda skipped: ...)'. */
  readonly provider?: string;
  /** scheduler_config.json as parsed JSON */
  readonly schedulerConfig: unknown;
}

/** A loaded editing model: parts the pipeline composes. Release with `dispose()`. */
export interface EditModel {
  readonly facts: ModelFacts;
  readonly tokenizer: PromptTokenizer;
  /** [n, 77] ids -> [n, 77, contextChannels] */
  encodeText(ids: number[][]): Promise<Tensor>;
  /** frames [F, 3, H, W] in [-1, 1] -> posterior mean [F, C, H/s, W/s] (unscaled) */
  encodeImages(images: Tensor): Promise<Tensor>;
  /** latents z (already divided by the scaling factor) [F, C, h, w] -> images [F, 3, H, W] (raw, not clamped) */
  decodeLatents(latents: Tensor): Promise<Tensor>;
  /** The UNet graph for a variant, built and cached on first use. */
  unet(variant: UNetVariant): Promise<UNetRunner>;
  /** The ControlNet loaded with the model (`loadEditModel(..., { controlnetDir })`); absent without one. */
  readonly controlnet?: ControlNetPart;
  dispose(): Promise<void>;
}

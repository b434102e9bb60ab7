import type { GraphBuilder, ValueRef } from '../../graph/builder.ts';
import { type BlockContext, child } from './context.ts';

/** Row-major [rows, cols] -> [cols, rows]. */
function transpose2d(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  }
  return out;
}

/**
 * torch `Linear(inFeatures, outFeatures)` over the last axis: y = x·Wᵀ + b.
 * The checkpoint's W [out, in] is stored transposed as [in, out] under its own name, so MatMul needs no
 * Transpose node.
 */
export function linear(ctx: BlockContext, prefix: string, x: ValueRef, inFeatures: number, outFeatures: number, options: { bias?: boolean } = {}): ValueRef {
  const { g, weights } = ctx;
  const name = child(prefix, 'weight');
  const w = weights.get(name, [outFeatures, inFeatures]);
  const wT = g.weight(name, g.keepInitializers ? transpose2d(w, outFeatures, inFeatures) : undefined, [inFeatures, outFeatures]);
  const y = g.matMul(x, wT); // [..., out]
  if (options.bias === false) return y;
  const biasName = child(prefix, 'bias');
  return g.add(y, g.weight(biasName, weights.get(biasName, [outFeatures]), [outFeatures])); // [..., out]
}

/** torch `Conv2d(inChannels, outChannels, kernel, stride, padding)` with bias, NCHW. */
export function conv2d(ctx: BlockContext, prefix: string, x: ValueRef, inChannels: number, outChannels: number, options: { kernel?: number; stride?: number; pads?: number[] } = {}): ValueRef {
  const { g, weights } = ctx;
  const k = options.kernel ?? 3;
  const p = (k - 1) / 2;
  const wName = child(prefix, 'weight');
  const bName = child(prefix, 'bias');
  const w = g.weight(wName, weights.get(wName, [outChannels, inChannels, k, k]), [outChannels, inChannels, k, k]);
  const b = g.weight(bName, weights.get(bName, [outChannels]), [outChannels]);
  const stride = options.stride ?? 1;
  return g.conv(x, w, b, { strides: [stride, stride], pads: options.pads ?? [p, p, p, p] }); // [B, out, H', W']
}

/**
 * torch `GroupNorm(groups, channels, eps)` on NCHW: statistics per (sample, group) through
 * InstanceNormalization on [B, groups, C/groups·H·W] (a plain mean/variance), then the per-channel affine.
 * Spatial dims are static here, so the reshape back uses them.
 *
 * With `clipFrames` F > 1 the batch is groups of F consecutive frames and the statistics pool each group's F
 * frames, as torch GroupNorm does on FateZero's 5-D [b, c, f, h, w] latents (its inflated ResNet blocks and
 * `conv_norm_out`), instead of normalising every frame alone.
 */
export function groupNorm(ctx: BlockContext, prefix: string, x: ValueRef, channels: number, groups: number, eps: number, spatial: readonly number[], clipFrames = 1): ValueRef {
  const { g, weights } = ctx;
  if (channels % groups !== 0) {
    throw new Error(`GroupNorm ${prefix}: ${channels} channels do not split into ${groups} groups; norm_num_groups must divide every block's channel count.`);
  }
  const back = clipFrames > 1 ? clipNormalize(g, x, channels, groups, eps, spatial, clipFrames) : frameNormalize(g, x, channels, groups, eps, spatial);
  const affineShape = [channels, ...spatial.map(() => 1)];
  const wName = child(prefix, 'weight');
  const bName = child(prefix, 'bias');
  const scale = g.weight(wName, weights.get(wName, [channels]), affineShape);
  const bias = g.weight(bName, weights.get(bName, [channels]), affineShape);
  return g.add(g.mul(back, scale), bias); // [B, C, ...spatial]
}

/** Per-sample group statistics (InstanceNormalization on the grouped view): [B, C, ...spatial]. */
function frameNormalize(g: GraphBuilder, x: ValueRef, channels: number, groups: number, eps: number, spatial: readonly number[]): ValueRef {
  const grouped = g.reshape(x, [0, groups, -1]); // [B, G, C/G·H·W]
  const normalized = g.op1('InstanceNormalization', [grouped, g.constFloat(new Float32Array(groups).fill(1)), g.constFloat(new Float32Array(groups))], { epsilon: { kind: 'float', value: eps } }); // [B, G, C/G·H·W]
  return g.reshape(normalized, [0, channels, ...spatial]); // [B, C, ...spatial]
}

/** Group statistics pooled over each run of `frames` consecutive samples (population variance, as torch): [B, C, ...spatial]. */
function clipNormalize(g: GraphBuilder, x: ValueRef, channels: number, groups: number, eps: number, spatial: readonly number[], frames: number): ValueRef {
  const grouped = g.reshape(x, [-1, frames, groups, (channels / groups) * spatial.reduce((a, b) => a * b, 1)]); // [B/F, F, G, C/G·H·W]
  const mean = g.reduceMean(grouped, [1, 3]); // [B/F, 1, G, 1]
  const centred = g.sub(grouped, mean);
  const variance = g.reduceMean(g.mul(centred, centred), [1, 3]); // [B/F, 1, G, 1]
  const normalized = g.div(centred, g.sqrt(g.add(variance, g.scalar(eps)))); // [B/F, F, G, C/G·H·W]
  return g.reshape(normalized, [-1, channels, ...spatial]); // [B, C, ...spatial]
}

/** torch `LayerNorm(channels, eps)` over the last axis (ONNX LayerNormalization, fused in ORT). */
export function layerNorm(ctx: BlockContext, prefix: string, x: ValueRef, channels: number, eps: number): ValueRef {
  const { g, weights } = ctx;
  const wName = child(prefix, 'weight');
  const bName = child(prefix, 'bias');
  const scale = g.weight(wName, weights.get(wName, [channels]), [channels]);
  const bias = g.weight(bName, weights.get(bName, [channels]), [channels]);
  return g.layerNormalization(x, scale, bias, eps, -1); // same shape as x
}

import { int, ints, str, type ValueRef } from '../../graph/builder.ts';
import { type BlockContext, child } from './context.ts';
import { conv2d } from './layers.ts';

/**
 * diffusers `Downsample2D` with a conv: 3x3 stride 2.
 * - 'symmetric' (UNet): padding `padding` on every side.
 * - 'right-bottom' (VAE encoder): pad right and bottom by 1, then conv with padding 0.
 * x [B, C, H, W] -> [B, Cout, ceil-ish(H/2), W/2]
 */
export function downsample(ctx: BlockContext, prefix: string, x: ValueRef, channels: number, outChannels: number, mode: 'symmetric' | 'right-bottom', padding = 1): ValueRef {
  const convPrefix = child(prefix, 'conv');
  if (mode === 'right-bottom') {
    const padded = ctx.g.pad(x, [0, 0, 0, 0, 0, 0, 1, 1]); // [B, C, H+1, W+1]
    return conv2d(ctx, convPrefix, padded, channels, outChannels, { stride: 2, pads: [0, 0, 0, 0] });
  }
  return conv2d(ctx, convPrefix, x, channels, outChannels, { stride: 2, pads: [padding, padding, padding, padding] });
}

/**
 * diffusers `Upsample2D` with a conv: nearest resize to `size` [H', W'] (2x unless a skip needs another size),
 * then 3x3 conv. Nearest uses asymmetric coordinates + floor, which is what PyTorch's 'nearest' does.
 * x [B, C, H, W] -> [B, Cout, H', W']
 */
export function upsample(ctx: BlockContext, prefix: string, x: ValueRef, channels: number, outChannels: number, size: readonly [number, number]): ValueRef {
  const { g } = ctx;
  const resized = g.op1('Resize', [x, undefined, undefined, g.constInt64([size[0], size[1]])], {
    axes: ints([2, 3]),
    mode: str('nearest'),
    coordinate_transformation_mode: str('asymmetric'),
    nearest_mode: str('floor'),
    antialias: int(0),
  }); // [B, C, H', W']
  return conv2d(ctx, child(prefix, 'conv'), resized, channels, outChannels);
}

/**
 * Which recorded cross-attention maps make FateZero's blend mask: its store keeps the controlled layers in call
 * order per UNet part, and its blend reads `down_cross[2:4] + up_cross[:3]` (spatial_blend.py). At 512 px on
 * SD1.5 that is the five 16x16 maps (down_blocks.2 x2, up_blocks.1 x3); on the 64 px tiny reference model it is
 * the three up_blocks.1 maps (down_cross has only two entries).
 */
import type { ControlledSite } from './hooks.ts';

/** The part of the UNet a layer sits in, as FateZero's `place_in_unet`. */
function placeInUNet(name: string): 'down' | 'mid' | 'up' {
  if (name.startsWith('down_blocks.')) return 'down';
  if (name.startsWith('up_blocks.')) return 'up';
  return 'mid';
}

/**
 * The blend maps among the controlled sites (given in graph call order).
 * Where FateZero's selection mixes grids (it would fail to concatenate them, e.g. SD1.5 at 256 px), the maps on the
 * grid of the first selected one are kept [ours]; where it selects nothing (a model with fewer layers), the cross
 * maps of the finest controlled grid are used [ours].
 * @throws when no cross-attention layer is controlled
 */
export function blendSites(sites: readonly ControlledSite[]): ControlledSite[] {
  const cross = sites.filter((s) => s.kind === 'cross');
  if (cross.length === 0) throw new Error('No cross-attention layer is controlled; the blend mask needs at least one (query length <= 1024).');
  const down = cross.filter((s) => placeInUNet(s.name) === 'down');
  const up = cross.filter((s) => placeInUNet(s.name) === 'up');
  const picked = [...down.slice(2, 4), ...up.slice(0, 3)];
  if (picked.length === 0) {
    const finest = Math.max(...cross.map((s) => s.height * s.width));
    return cross.filter((s) => s.height * s.width === finest);
  }
  const grid = picked[0];
  return picked.filter((s) => s.height === grid.height && s.width === grid.width);
}

import { describe, expect, it } from 'vitest';
import { blendSites } from '../../../../gpu-runner/engine/fusion/blend-sites.ts';
import type { ControlledSite } from '../../../../gpu-runner/engine/fusion/hooks.ts';

/** Cross sites of an SD1.5-layout UNet in call order, for a latent of `latent`², keeping FateZero's q <= 1024 layers. */
function sd15CrossSites(latent: number): ControlledSite[] {
  const sites: ControlledSite[] = [];
  const add = (name: string, level: number) => {
    const side = latent >> level;
    if (side * side <= 1024) sites.push({ name: `${name}.transformer_blocks.0.attn2`, kind: 'cross', level, heads: 8, height: side, width: side, frames: 8, queryTokens: side * side, keyTokens: 77, crossFrame: false });
  };
  for (const level of [0, 1, 2]) for (const j of [0, 1]) add(`down_blocks.${level}.attentions.${j}`, level);
  add('mid_block.attentions.0', 3);
  for (const i of [1, 2, 3]) for (const j of [0, 1, 2]) add(`up_blocks.${i}.attentions.${j}`, 3 - i);
  return sites;
}

describe("blend maps by FateZero's store positions (down_cross[2:4] + up_cross[:3])", () => {
  it('SD1.5 at 512 px: the five 16x16 maps (down_blocks.2 x2, up_blocks.1 x3)', () => {
    expect(blendSites(sd15CrossSites(64)).map((s) => s.name.split('.transformer')[0])).toEqual([
      'down_blocks.2.attentions.0', 'down_blocks.2.attentions.1', 'up_blocks.1.attentions.0', 'up_blocks.1.attentions.1', 'up_blocks.1.attentions.2',
    ]);
  });

  it('SD1.5 at 256 px: the selection mixes 16x16 and 8x8, so the first grid (down_blocks.1, 16x16) is kept', () => {
    const picked = blendSites(sd15CrossSites(32));
    expect(picked.map((s) => s.name.split('.transformer')[0])).toEqual(['down_blocks.1.attentions.0', 'down_blocks.1.attentions.1']);
    expect(picked.every((s) => s.height === 16)).toBe(true);
  });

  it('the 64 px tiny reference model (two down maps only): the three up_blocks.1 maps', () => {
    const site = (name: string): ControlledSite => ({ name, kind: 'cross', level: 0, heads: 8, height: 32, width: 32, frames: 8, queryTokens: 1024, keyTokens: 77, crossFrame: false });
    const sites = ['down_blocks.0.attentions.0', 'down_blocks.0.attentions.1', 'mid_block.attentions.0', 'up_blocks.1.attentions.0', 'up_blocks.1.attentions.1', 'up_blocks.1.attentions.2'].map(site);
    expect(blendSites(sites).map((s) => s.name)).toEqual(['up_blocks.1.attentions.0', 'up_blocks.1.attentions.1', 'up_blocks.1.attentions.2']);
  });
});

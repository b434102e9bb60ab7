import { describe, expect, it } from 'vitest';
import type { CrossMap } from '../../../gpu-runner/engine/fusion/blend-mask.ts';
import { wordShareOfPrompt } from '../../../gpu-runner/engine/saliency-attention.ts';

/** One layer, one head, one frame, 2 pixels x 4 keys (start token, two words, padding). */
function map(rows: number[][]): CrossMap {
  return { data: Float32Array.from(rows.flat()), frames: 1, heads: 1, height: 1, width: 2, keys: 4 };
}

describe('wordShareOfPrompt', () => {
  it('measures a word against the attention the prompt\'s words get, not against the start and padding tokens', () => {
    // pixel 0 attends to the prompt little but mostly to word 1; pixel 1 attends to the prompt a lot, evenly
    const maps = [map([[0.8, 0.15, 0.05, 0], [0.2, 0.3, 0.3, 0.2]])];
    const share = wordShareOfPrompt(maps, [1], [1, 2]);
    expect([...share.data].map((v) => +v.toFixed(6))).toEqual([0.75, 0.5]);
    // the raw attention of word 1 would rank the pixels the other way round (0.15 < 0.3)
  });

  it('is 0 where the prompt gets no attention', () => {
    expect([...wordShareOfPrompt([map([[1, 0, 0, 0], [0, 0.5, 0.5, 0]])], [1], [1, 2]).data]).toEqual([0, 0.5]);
  });
});

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLIP_VOCAB_GZ } from '../../../../gpu-runner/assets.ts';
import { resolveClipVocab } from '../../../../gpu-runner/models/bundle/clip-vocab.ts';
import { CLIPTokenizer } from '../../../../gpu-runner/models/clip-tokenizer.ts';

describe('resolveClipVocab', () => {
  it('prefers the named file, else the OpenAI vocabulary that ships in assets/', () => {
    expect(resolveClipVocab({ explicitPath: '/x/vocab.gz' })).toBe('/x/vocab.gz');
    expect(resolveClipVocab()).toBe(CLIP_VOCAB_GZ);
    expect(existsSync(CLIP_VOCAB_GZ)).toBe(true);
  });

  it('the shipped vocabulary loads as CLIP\'s tokenizer', () => {
    const tokenizer = CLIPTokenizer.fromOpenAIBpeGz(CLIP_VOCAB_GZ);
    expect(tokenizer.vocabSize).toBe(49_408);
    expect(tokenizer.encodeForModel('a brown bear').ids.slice(0, 5)).toEqual([49_406, 320, 2_866, 4_298, 49_407]);
  });
});

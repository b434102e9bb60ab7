import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLIPTokenizer } from '../../../../gpu-runner/models/clip-tokenizer.ts';
import { ensureSyntheticVocab, syntheticMerges } from '../../../../gpu-runner/models/bundle/synthetic-vocab.ts';

describe('the synthetic CLIP vocabulary (fresh clones without the shared data)', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('has as many distinct merges as OpenAI\'s file', () => {
    const merges = syntheticMerges();
    expect(merges).toHaveLength(48_894);
    expect(new Set(merges.map((m) => m.replace(' ', ''))).size).toBe(48_894);
  });

  it('loads as a CLIP tokenizer of the usual size and tokenizes prompts into 77 ids', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocd-vocab-'));
    dirs.push(dir);
    const tokenizer = CLIPTokenizer.fromOpenAIBpeGz(ensureSyntheticVocab(dir));
    expect(tokenizer.vocabSize).toBe(49_408);
    const { ids } = tokenizer.encodeForModel('A brown bear walking on the rocks!');
    expect(ids).toHaveLength(77);
    expect(ids[0]).toBe(49_406);
    expect(ids.slice(1).indexOf(49_407)).toBeGreaterThan(5);
    expect(tokenizer.positionsOf('a brown bear walking', ['bear']).length).toBeGreaterThan(0);
  });
});

describe('resolveClipVocab', async () => {
  const { resolveClipVocab, SHARED_CLIP_VOCAB } = await import('../../../../gpu-runner/models/bundle/clip-vocab.ts');
  it('prefers the named file, then the shared OpenAI file beside the checkout', () => {
    expect(resolveClipVocab({ explicitPath: '/x/vocab.gz', cacheDir: '/unused' })).toBe('/x/vocab.gz');
    // The shared data folder sits beside the checkout in development and CI.
    expect(resolveClipVocab({ cacheDir: '/unused' })).toBe(SHARED_CLIP_VOCAB);
  });
});

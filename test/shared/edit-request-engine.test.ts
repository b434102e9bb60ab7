/**
 * The API and the engine accept the same requests: every request below is judged by the API's create schema and
 * run by the engine up to its first UNet step (the signal is already aborted, so a request that passes every
 * check ends `canceled`). A request the API accepts must never fail in the engine as `invalid_request`, and one
 * it refuses the engine refuses too. The accepted ones are the edge cases of word matching the engine's own
 * deeper checks (word swap matrix, reweighting, blend-word positions) would trip on if the rules disagreed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateEditBodySchema } from '../../shared/api.ts';
import { resolveEditDefaults, type EditRequest } from '../../shared/edit-request.ts';
import { EngineError } from '../../gpu-runner/engine/errors.ts';
import { loadEditModel } from '../../gpu-runner/engine/load-model.ts';
import type { EditModel } from '../../gpu-runner/engine/model.ts';
import { runEdit } from '../../gpu-runner/engine/pipeline.ts';
import { ENGINE_TEST_CACHE, tinyBundleDir } from '../gpu-runner/engine/support/model.ts';

const SIZE = 64;
const UPLOAD = { uploadId: '01JDABCDEF0000000000000001' };
// The fatezero preset merges no tokens, so every case shares one UNet graph.
const base = { preset: 'fatezero', sampler: { steps: 2 }, sourcePrompt: 'a brown bear walking', targetPrompt: 'a red tiger walking' } as const;
const LONG = Array.from({ length: 90 }, (_, i) => `w${i}`).join(' ');

let model: EditModel;

beforeAll(async () => {
  model = await loadEditModel(tinyBundleDir(), { provider: 'cpu', cacheDir: ENGINE_TEST_CACHE });
}, 120_000);
afterAll(async () => {
  await model?.dispose();
});

/** What the engine makes of a request: 'runs' when it reaches the UNet steps, else its error code. */
async function engineVerdict(request: EditRequest): Promise<string> {
  // Defaults only, no checks: the runner hands the engine the job's options as stored, so runEdit must check.
  const options = resolveEditDefaults(request);
  const aborted = new AbortController();
  aborted.abort();
  const frame = new Uint8Array(SIZE * SIZE * 3).fill(128);
  try {
    await runEdit({ input: { frames: [frame], width: SIZE, height: SIZE }, options, model, signal: aborted.signal });
    return 'runs';
  } catch (error) {
    if (error instanceof EngineError) return error.code === 'canceled' ? 'runs' : error.code;
    throw error;
  }
}

const accepted: [string, Partial<EditRequest>][] = [
  ['a word swap of equal word counts', { fusion: { controller: 'replace' } }],
  ['a word swap whose words differ in token count', { sourcePrompt: 'a cat walking', targetPrompt: 'a xylophonist walking', fusion: { controller: 'replace' } }],
  ['a word swap of prompts longer than the 75 tokens that fit', { sourcePrompt: `${LONG} bear`, targetPrompt: `${LONG} tiger`, fusion: { controller: 'replace' } }],
  ['blend words in another case', { fusion: { blendWords: { source: ['BEAR'], target: ['Tiger'] } } }],
  ['a blend word with the punctuation of its prompt', { sourcePrompt: 'a bear, walking', targetPrompt: 'a tiger, walking', fusion: { blendWords: { source: ['bear,'], target: ['tiger,'] } } }],
  ['a reweighted word in another case', { fusion: { reweight: { RED: 2 } } }],
  ['an HTML entity between words', { sourcePrompt: 'fish &amp; chips', targetPrompt: 'fish &amp; rice', fusion: { controller: 'replace', blendWords: { source: ['&'], target: ['rice'] } } }],
  ['a zero-width space inside a word', { sourcePrompt: 'a be\u200bar walking', targetPrompt: 'a tiger walking', fusion: { controller: 'replace' } }],
  ['crossFrame.minChannels null', { crossFrame: { minChannels: null } }],
  ['crossFrame.minChannels set', { crossFrame: { minChannels: 320 } }],
];

const refused: [string, Partial<EditRequest>][] = [
  ['a word swap of unequal word counts', { targetPrompt: 'a big red tiger walking', fusion: { controller: 'replace' } }],
  ['a source blend word missing from the source prompt', { fusion: { blendWords: { source: ['lion'], target: ['tiger'] } } }],
  ['a target blend word missing from the target prompt', { fusion: { blendWords: { source: ['bear'], target: ['lion'] } } }],
  ['a reweighted word missing from the target prompt', { fusion: { reweight: { bear: 2 } } }],
  ['a prompt of zero-width characters', { targetPrompt: '\u200b\u200d' }],
  ['a prompt of control characters', { sourcePrompt: '\u0001\u0002\u007f' }],
];

describe('the API and the engine agree on what runs', () => {
  it.each(accepted)('both run %s', async (_name, knobs) => {
    const request = { ...base, ...knobs } as EditRequest;
    const api = CreateEditBodySchema.safeParse({ ...request, input: UPLOAD });
    expect(api.error?.issues ?? []).toEqual([]);
    expect(await engineVerdict(request)).toBe('runs');
  }, 60_000);

  it.each(refused)('both refuse %s', async (_name, knobs) => {
    const request = { ...base, ...knobs } as EditRequest;
    expect(CreateEditBodySchema.safeParse({ ...request, input: UPLOAD }).success).toBe(false);
    expect(await engineVerdict(request)).toBe('invalid_request');
  }, 60_000);
});

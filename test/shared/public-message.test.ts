import { describe, expect, it } from 'vitest';
import { publicMessage } from '../../shared/public-message.ts';

describe('publicMessage', () => {
  it.each([
    ['The input file is not a readable video (/tmp/ocd-worker/job-01JD-abc/input: Invalid data found when processing input).', 'The input file is not a readable video (input: Invalid data found when processing input).'],
    ["Cannot load the model folder /opt/models/sd15: ENOENT: no such file or directory, open '/opt/models/sd15/model_index.json'", "Cannot load the model folder sd15: ENOENT: no such file or directory, open 'model_index.json'"],
    ['The upload is gone (uploads/alice/01JDABCDEF0000000000000001 does not exist).', 'The upload is gone (the stored file does not exist).'],
    ['boom\n    at run (/app/gpu-runner/engine/pipeline.ts:12:3)\n    at file:///app/main.js:1:1', 'boom'],
    ['failed to import file:///var/task/index.mjs', 'failed to import index.mjs'],
  ])('clears %j', (text, expected) => {
    expect(publicMessage(text)).toBe(expected);
  });

  it.each([
    'The video lasts 12.50 s; the limit is 10 s. Trim it first.',
    'Create it again with POST /v1/edits.',
    'The webhook https://hooks.example/a/b answered 500.',
    'Use 1/2 of the steps, or 3/4.',
  ])('leaves %j as it is', (text) => {
    expect(publicMessage(text)).toBe(text);
  });
});

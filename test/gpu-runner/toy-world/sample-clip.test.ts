/**
 * The committed sample clip (functions/public/samples/) is what the toy-world renderer draws for the sample seed,
 * and its example edits are the ones the code derives; regenerate both with `tsx scripts/local/sample-clip.ts --write`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeVideo } from '../../../gpu-runner/video/index.ts';
import { psnr } from '../../../gpu-runner/bench/engine-quality.ts';
import { renderClip } from '../../../gpu-runner/toy-world/render.ts';
import { sampleClipParams, sampleExampleEdits } from '../../../gpu-runner/toy-world/sample.ts';
import { isHeldOut } from '../../../gpu-runner/toy-world/world.ts';
import { SAMPLE_CLIP_PATH, SAMPLE_EXAMPLES_PATH, sampleClip } from '../../../scripts/local/sample-clip.ts';

describe('the sample toy clip', () => {
  it('decodes to the rendered clip (H.264 at crf 12: within 30 dB PSNR)', async () => {
    const params = sampleClipParams();
    const video = await decodeVideo(SAMPLE_CLIP_PATH, { maxFrames: params.frames, selection: 'first', size: params.size });
    expect(video.frames.length).toBe(params.frames);
    expect([video.width, video.height]).toEqual([params.size, params.size]);
    expect(psnr(video.frames, renderClip(params).frames.map((f) => f.rgb))).toBeGreaterThan(30);
  });

  it('is held out from training, and its example edits are the derived ones', () => {
    expect(isHeldOut(sampleClipParams())).toBe(true);
    const committed = JSON.parse(readFileSync(SAMPLE_EXAMPLES_PATH, 'utf8')) as { edits: unknown };
    expect(committed.edits).toEqual(sampleExampleEdits());
    expect(sampleClip().targetPrompt).toBe('a blue circle moving on a plain green background');
  });
});

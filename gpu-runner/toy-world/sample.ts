/**
 * The sample toy clip the playground and `npm start` offer (a held-out seed: the model never saw it) and the
 * one-click example edits for it. `scripts/local/sample-clip.ts --write` renders it to functions/public/samples/.
 */
import { encodeVideo } from '../video/index.ts';
import { renderClip } from './render.ts';
import { caption, clipParams, type ClipParams } from './world.ts';

/** Seed of the sample clip: "a red circle moving on a plain green background". */
export const SAMPLE_CLIP_SEED = 1_000_193;
/** Frames per second of the sample video. */
export const SAMPLE_CLIP_FPS = 8;

export interface ExampleEdit {
  readonly label: string;
  readonly sourcePrompt: string;
  readonly targetPrompt: string;
}

export function sampleClipParams(): ClipParams {
  return clipParams(SAMPLE_CLIP_SEED);
}

/** One-click edits of the sample clip: colour, shape, background colour. */
export function sampleExampleEdits(): ExampleEdit[] {
  const source = caption(sampleClipParams());
  const swap = (from: string, to: string) => source.replace(` ${from} `, ` ${to} `);
  return [
    { label: 'red → blue', sourcePrompt: source, targetPrompt: swap('red', 'blue') },
    { label: 'circle → square', sourcePrompt: source, targetPrompt: swap('circle', 'square') },
    { label: 'green background → purple', sourcePrompt: source, targetPrompt: swap('green', 'purple') },
  ];
}

/** Writes the sample clip as H.264 MP4 (near-lossless: crf 12). */
export async function writeSampleClipVideo(outPath: string): Promise<void> {
  const params = sampleClipParams();
  const clip = renderClip(params);
  await encodeVideo(clip.frames.map((f) => f.rgb), { width: clip.size, height: clip.size, fps: SAMPLE_CLIP_FPS, outPath, crf: 12 });
}

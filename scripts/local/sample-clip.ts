/**
 * The sample clip for the printed curl example and the playground: a toy-world clip rendered by
 * gpu-runner/toy-world and committed as functions/public/samples/toy-clip.mp4, with its one-click example edits
 * in examples.json beside it (the playground reads both).
 *
 *   tsx scripts/local/sample-clip.ts --write     (re-renders the committed files)
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sampleExampleEdits, writeSampleClipVideo } from '../../gpu-runner/toy-world/sample.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SAMPLE_CLIP_PATH = resolve(REPO_ROOT, 'functions/public/samples/toy-clip.mp4');
export const SAMPLE_EXAMPLES_PATH = resolve(REPO_ROOT, 'functions/public/samples/examples.json');

export interface SampleClip {
  path: string;
  sourcePrompt: string;
  targetPrompt: string;
}

export function sampleClip(): SampleClip {
  const [edit] = sampleExampleEdits();
  return { path: SAMPLE_CLIP_PATH, sourcePrompt: edit.sourcePrompt, targetPrompt: edit.targetPrompt };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  await writeSampleClipVideo(SAMPLE_CLIP_PATH);
  writeFileSync(SAMPLE_EXAMPLES_PATH, `${JSON.stringify({ clip: '/samples/toy-clip.mp4', edits: sampleExampleEdits() }, null, 2)}\n`);
  console.log(`wrote ${SAMPLE_CLIP_PATH} and ${SAMPLE_EXAMPLES_PATH}`);
}

/** A clip for the printed curl example: a FateZero test clip that ships in assets/. */
import { join } from 'node:path';
import { CLIPS_DIR } from '../../gpu-runner/assets.ts';

export interface SampleClip {
  path: string;
  sourcePrompt: string;
  targetPrompt: string;
}

export function sampleClip(): SampleClip {
  return {
    path: join(CLIPS_DIR, 'bear_tiger_lion_leopard.mp4'),
    sourcePrompt: 'a brown bear walking on the rock against a wall',
    targetPrompt: 'a red tiger walking on the rock against a wall',
  };
}

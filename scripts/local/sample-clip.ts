/** A clip for the printed curl example: a FateZero test clip when the shared data is here, else a generated one. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, type LocalPaths } from './settings.ts';

export interface SampleClip {
  path: string;
  sourcePrompt: string;
  targetPrompt: string;
}

export function sampleClip(paths: LocalPaths): SampleClip {
  const shared = join(REPO_ROOT, '../shared/data/clips/bear_tiger_lion_leopard.mp4');
  if (existsSync(shared)) {
    return { path: shared, sourcePrompt: 'a brown bear walking on the rock against a wall', targetPrompt: 'a red tiger walking on the rock against a wall' };
  }
  const path = join(paths.root, 'sample.mp4');
  if (!existsSync(path)) {
    const args = ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=256x256:rate=8:duration=1', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', path];
    const run = spawnSync('ffmpeg', args, { stdio: 'inherit' });
    if (run.status !== 0) throw new Error(`ffmpeg could not write the sample clip ${path}`);
  }
  return { path, sourcePrompt: 'a colorful test pattern', targetPrompt: 'a watercolor painting of a colorful test pattern' };
}

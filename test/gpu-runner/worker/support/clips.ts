/**
 * Input files for worker tests, made with ffmpeg in a temporary folder: a good clip and the bad inputs of the
 * issue (truncated MP4, zero bytes, text named .mp4, one frame).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** An H.264 MP4 (moov up front, so a cut file still promises its frame count). */
export async function makeClip(path: string, frames: number, size = 128, fps = 8): Promise<void> {
  await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${size}x${size}:rate=${fps}`,
    '-frames:v', String(frames), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', path]);
}

export interface TestInputs {
  dir: string;
  good: Buffer;
  truncated: Buffer;
  zeroBytes: Buffer;
  textAsMp4: Buffer;
  oneFrame: Buffer;
}

export async function makeTestInputs(): Promise<TestInputs> {
  const dir = await mkdtemp(join(tmpdir(), 'ocd-worker-clips-'));
  await makeClip(join(dir, 'good.mp4'), 16);
  await makeClip(join(dir, 'one.mp4'), 1);
  const good = await readFile(join(dir, 'good.mp4'));
  await writeFile(join(dir, 'text.mp4'), 'hello, this is not a video\n');
  return {
    dir,
    good,
    truncated: good.subarray(0, Math.floor(good.length * 0.6)),
    zeroBytes: Buffer.alloc(0),
    textAsMp4: await readFile(join(dir, 'text.mp4')),
    oneFrame: await readFile(join(dir, 'one.mp4')),
  };
}

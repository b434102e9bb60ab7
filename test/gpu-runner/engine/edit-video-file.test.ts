import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { editVideoFile, loadEditModel, resolveOptions, type EditModel } from '../../../gpu-runner/engine/index.ts';
import { ENGINE_TEST_CACHE, tinyBundleDir } from './support/model.ts';

const dir = mkdtempSync(join(tmpdir(), 'edit-video-file-'));
let model: EditModel;
beforeAll(async () => {
  model = await loadEditModel(tinyBundleDir(), { provider: 'cpu', cacheDir: ENGINE_TEST_CACHE });
});
afterAll(async () => {
  await model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function ffmpeg(args: string[]): void {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);
}

function probe(path: string): { width: number; height: number; frames: number; audio: boolean; duration: number } {
  const video = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'csv=p=0', path], { encoding: 'utf8' }).trim().split(',').map(Number);
  const audio = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', path], { encoding: 'utf8' }).trim();
  const duration = Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path], { encoding: 'utf8' }).trim());
  return { width: video[0], height: video[1], frames: video[2], audio: audio.length > 0, duration };
}

const options = (frames: number) => resolveOptions({ sourcePrompt: 'a moving pattern', targetPrompt: 'a red moving pattern', preset: 'optimized', frames: { count: frames }, size: 128, sampler: { steps: 2 } });

describe('editVideoFile on awkward inputs (generated with ffmpeg)', () => {
  it('portrait H.265 MP4 with an audio track: edits at the working size, keeps the audio trimmed to the output', async () => {
    const input = join(dir, 'portrait.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=180x320:r=10:d=3', '-f', 'lavfi', '-i', 'sine=f=440:d=3', '-c:v', 'libx265', '-x265-params', 'log-level=error', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', input]);
    const result = await editVideoFile({ inputPath: input, outDir: join(dir, 'portrait'), options: options(2), model });
    const out = probe(result.outputPath);
    expect(out).toMatchObject({ width: 128, height: 192, frames: 2, audio: true });
    // 2 frames spread over 30 (stride 15): 10/15 fps, so 3 s; the audio is trimmed to that span
    expect(out.duration).toBeLessThan(3.1);
    expect(probe(result.previewPath)).toMatchObject({ width: 3 * 128, height: 192, frames: 2 });
    expect(JSON.parse(readFileSync(result.reportPath, 'utf8')).frames).toBe(2);
  });

  it('variable-frame-rate WebM/VP9', async () => {
    const input = join(dir, 'vfr.webm');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=160x128:r=12:d=2', '-vf', "setpts='if(lt(N,8),N/12/TB,(N*2)/12/TB)'", '-fps_mode', 'vfr', '-c:v', 'libvpx-vp9', '-b:v', '200k', input]);
    const result = await editVideoFile({ inputPath: input, outDir: join(dir, 'vfr'), options: options(3), model });
    // short side 128, long side centre-cropped to a multiple of 64
    expect(probe(result.outputPath)).toMatchObject({ width: 128, height: 128, frames: 3 });
  });

  it('a one-frame MOV/ProRes clip', async () => {
    const input = join(dir, 'one.mov');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=128x128:r=1:d=1', '-frames:v', '1', '-c:v', 'prores_ks', input]);
    const result = await editVideoFile({ inputPath: input, outDir: join(dir, 'one'), options: options(8), model });
    expect(probe(result.outputPath)).toMatchObject({ width: 128, height: 128, frames: 1 });
  });

  it('a truncated file is rejected with its code', async () => {
    const good = join(dir, 'full.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=128x128:r=10:d=2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', good]);
    const bytes = readFileSync(good);
    const cut = join(dir, 'cut.mp4');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(editVideoFile({ inputPath: cut, outDir: join(dir, 'cut'), options: options(2), model })).rejects.toMatchObject({ code: expect.stringMatching(/^input_(truncated|unreadable)$/) });
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EditRequest } from '../../../../shared/edit-request.ts';
import { editVideoFile, loadEditModel, resolveOptions, type EditModel } from '../../../../gpu-runner/engine/index.ts';
import { ENGINE_TEST_CACHE, tinyBundleDir, tinyControlNetDir } from '../support/model.ts';

// editVideoFile with the ControlVideo editor on the tiny bundle and its random ControlNet: 2 frames at 128 px, 1 step.
const dir = mkdtempSync(join(tmpdir(), 'controlvideo-file-'));
let model: EditModel;
beforeAll(async () => {
  model = await loadEditModel(tinyBundleDir(), { provider: 'cpu', cacheDir: ENGINE_TEST_CACHE, controlnetDir: tinyControlNetDir() });
}, 120_000);
afterAll(async () => {
  await model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const ffmpeg = (args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);

function probe(path: string): { width: number; height: number; frames: number } {
  const [width, height, frames] = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'csv=p=0', path], { encoding: 'utf8' }).trim().split(',').map(Number);
  return { width, height, frames };
}

/** A clip of `seconds` at 4 fps (so its frame count is 4 x seconds). */
function clip(name: string, size: string, seconds: number, source = 'testsrc2'): string {
  const path = join(dir, name);
  ffmpeg(['-f', 'lavfi', '-i', `${source}${source.includes('=') ? ':' : '='}s=${size}:r=4:d=${seconds}`, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', path]);
  return path;
}

const options = (request: Partial<EditRequest> = {}, context = {}) => resolveOptions({
  sourcePrompt: 'a test pattern', targetPrompt: 'a red test pattern', preset: 'controlvideo', frames: { count: 2 }, size: 128, sampler: { steps: 1 }, ...request,
} as EditRequest, context);

describe('editVideoFile with the ControlVideo editor', () => {
  it('canny control: output, and a preview input | control | output', async () => {
    const input = clip('input.mp4', '160x128', 2);
    const result = await editVideoFile({ inputPath: input, outDir: join(dir, 'canny'), options: options(), model, keepData: true });
    expect(probe(result.outputPath)).toEqual({ width: 128, height: 128, frames: 2 });
    expect(probe(result.previewPath)).toEqual({ width: 3 * 128, height: 128, frames: 2 });
    const report = JSON.parse(readFileSync(result.reportPath, 'utf8')) as { ranAs: string; options: { editor: string } };
    expect(report).toMatchObject({ ranAs: 'controlvideo', options: { editor: 'controlvideo' } });
    // the control panel is the canny map: only 0 and 255
    expect(new Set(result.data?.control?.[0])).toEqual(new Set([0, 255]));
  }, 180_000);

  it('a control video: its frames become the maps; with a mask video the preview shows input | control | mask | output', async () => {
    const input = clip('input2.mp4', '160x128', 2);
    const control = clip('depth.mp4', '160x128', 2, 'smptebars');
    const mask = clip('mask.mp4', '160x128', 2, 'color=c=white');
    const result = await editVideoFile({
      inputPath: input, controlPath: control, maskPath: mask, outDir: join(dir, 'video'), model, keepData: true,
      options: options({ control: { type: 'video' }, ocd: { mask: 'video' } }, { hasControlVideo: true, hasMaskVideo: true }),
    });
    expect(probe(result.previewPath)).toEqual({ width: 4 * 128, height: 128, frames: 2 });
    expect(new Set(result.data?.control?.[0]).size).toBeGreaterThan(2);
  }, 180_000);

  it('control videos that cannot be used get their own codes', async () => {
    const input = clip('input3.mp4', '160x128', 2);
    const run = (controlPath: string, name: string) => editVideoFile({ inputPath: input, controlPath, outDir: join(dir, name), model, options: options({ control: { type: 'video' } }, { hasControlVideo: true }) });
    await expect(run(clip('short.mp4', '160x128', 1), 'short')).rejects.toMatchObject({ code: 'control_frame_count' });
    await expect(run(clip('tall.mp4', '128x160', 2), 'tall')).rejects.toMatchObject({ code: 'control_size' });
    const text = join(dir, 'notes.mp4');
    writeFileSync(text, 'not a video');
    await expect(run(text, 'text')).rejects.toMatchObject({ code: 'control_unreadable' });
  }, 180_000);

  it('a model loaded without a ControlNet fails at once with controlnet_missing', async () => {
    const bare = { ...model, controlnet: undefined } as EditModel;
    await expect(editVideoFile({ inputPath: join(dir, 'missing.mp4'), outDir: join(dir, 'bare'), model: bare, options: options() })).rejects.toMatchObject({ code: 'controlnet_missing' });
  });
});

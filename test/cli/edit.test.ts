import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseBlendWords, requestFromArgs, run } from '../../cli/commands/edit.ts';
import { CLIPS_DIR, readClipManifest } from '../support/paths.ts';
import { ENGINE_TEST_CACHE, tinyBundleDir, tinyControlNetDir } from '../gpu-runner/engine/support/model.ts';

const out = mkdtempSync(join(tmpdir(), 'ocd-edit-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const manifest = readClipManifest();

function probeFrames(path: string): { codec: string; frames: number; pixFmt: string } {
  const [codec, pixFmt, frames] = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,pix_fmt,nb_read_frames', '-of', 'csv=p=0', path], { encoding: 'utf8' }).trim().split(',');
  return { codec, pixFmt, frames: Number(frames) };
}

describe('ocd edit argument handling', () => {
  it('parses blend words with and without a target side', () => {
    expect(parseBlendWords('silver,jeep:Porsche,car')).toEqual({ source: ['silver', 'jeep'], target: ['Porsche', 'car'] });
    expect(parseBlendWords('bear')).toEqual({ source: ['bear'], target: ['bear'] });
    expect(() => parseBlendWords(':')).toThrow(/SRC\[:TGT\]/);
  });

  it('maps flags and --set overrides onto the edit request', () => {
    const request = requestFromArgs({ source: 'a bear', target: 'a tiger', preset: 'optimized', steps: '12', guidance: '5', frames: '4', seed: '3', set: ['ocd.gamma=0.6', 'tome.ratio=[0.75,0.5]'] });
    expect(request).toMatchObject({ preset: 'optimized', seed: 3, frames: { count: 4 }, sampler: { steps: 12, guidance: 5 }, ocd: { gamma: 0.6 }, tome: { ratio: [0.75, 0.5] } });
  });

  it('maps the ControlVideo flags', () => {
    const request = requestFromArgs({ source: 'a bear', target: 'a tiger', editor: 'controlvideo', control: 'canny', 'conditioning-scale': '0.5', set: ['control.low=50'] });
    expect(request).toMatchObject({ editor: 'controlvideo', control: { type: 'canny', low: 50 }, conditioningScale: 0.5 });
    expect(() => requestFromArgs({ source: 'a', target: 'b', control: 'depth' })).toThrow(/--control must be canny or video/);
  });

  it('rejects bad values with the field and the rule', () => {
    expect(() => requestFromArgs({ source: 'a', target: 'b', set: ['ocd.gamma=2'] })).toThrow(/ocd.gamma/);
    expect(() => requestFromArgs({ source: 'a', target: 'b', steps: 'many' })).toThrow(/--steps must be a whole number/);
    expect(() => requestFromArgs({ target: 'b' })).toThrow(/--source and --target are required/);
  });
});

describe('ocd edit --editor controlvideo (tiny bundle and ControlNet)', () => {
  const clip = manifest[0];
  const base = (name: string) => [
    resolve(CLIPS_DIR, clip.file), '--source', clip.source_prompt, '--target', clip.edits[0].target_prompt, '--editor', 'controlvideo',
    '--model', tinyBundleDir(), '--frames', '2', '--size', '128', '--steps', '1', '--out', join(out, `${name}.mp4`), '--cache-dir', ENGINE_TEST_CACHE,
  ];

  it('canny control: writes the output, the preview and a report of the controlvideo-ocd run', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const code = await run([...base('cv-canny'), '--control', 'canny', '--controlnet', tinyControlNetDir()]);
    log.mockRestore();
    expect(code).toBe(0);
    expect(probeFrames(join(out, 'cv-canny.mp4'))).toEqual({ codec: 'h264', pixFmt: 'yuv420p', frames: 2 });
    const report = JSON.parse(readFileSync(join(out, 'cv-canny.files', 'report.json'), 'utf8'));
    expect(report.preset).toBe('controlvideo-ocd');
  }, 180_000);

  it('refuses to start without a ControlNet, and a folder that is not one gets controlnet_invalid', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const previous = process.env.OCD_CONTROLNET_DIR;
    delete process.env.OCD_CONTROLNET_DIR;
    const missing = await run(base('cv-missing'));
    const invalid = await run([...base('cv-invalid'), '--controlnet', tinyBundleDir()]);
    if (previous !== undefined) process.env.OCD_CONTROLNET_DIR = previous;
    const printed = err.mock.calls.map((c) => String(c[0])).join('\n');
    err.mockRestore();
    expect(missing).toBe(2);
    expect(printed).toMatch(/needs a ControlNet: pass --controlnet/);
    expect(invalid).toBe(1);
    expect(printed).toContain('[controlnet_invalid]');
  });
});

describe('ocd edit end to end (default toy model)', () => {
  const cases = (['ocd', 'optimized', 'fatezero'] as const).map((preset, i) => ({ preset, clip: manifest[i] }));

  it.each(cases)('$preset on $clip.id: writes a playable H.264 output, a preview and report.json', async ({ preset, clip }) => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const target = join(out, `${clip.id}-${preset}.mp4`);
    const code = await run([
      resolve(CLIPS_DIR, clip.file), '--source', clip.source_prompt, '--target', clip.edits[0].target_prompt,
      '--preset', preset, '--frames', '2', '--steps', '2', '--out', target, '--cache-dir', ENGINE_TEST_CACHE,
    ]);
    const printed = log.mock.calls.map((c) => String(c[0])).join('\n');
    log.mockRestore();
    expect(code).toBe(0);
    expect(probeFrames(target)).toEqual({ codec: 'h264', pixFmt: 'yuv420p', frames: 2 });
    const files = join(out, `${clip.id}-${preset}.files`);
    expect(existsSync(join(files, 'preview.mp4'))).toBe(true);
    const report = JSON.parse(readFileSync(join(files, 'report.json'), 'utf8'));
    expect(report.preset).toBe(preset);
    expect(report.unetCalls).toBeGreaterThan(0);
    expect(printed).toMatch(/inversion\s+\d+\.\d+ s/);
  });

  it.each([
    { name: 'a zero-byte file', content: '', code: 'input_empty' },
    { name: 'a text file', content: 'not a video at all', code: 'input_unreadable' },
  ])('rejects $name with its error code and exit status 1', async ({ content, code }) => {
    const bad = join(out, `bad-${code}.mp4`);
    writeFileSync(bad, content);
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const status = await run([bad, '--source', 'a', '--target', 'b', '--out', join(out, 'never.mp4'), '--cache-dir', ENGINE_TEST_CACHE]);
    const printed = err.mock.calls.map((c) => String(c[0])).join('\n');
    err.mockRestore();
    expect(status).toBe(1);
    expect(printed).toContain(`[${code}]`);
  });
});

/**
 * `ocd submit` with the editor and control flags, against the API in this process (fake storage, job store and
 * queue): the control video is uploaded through the presigned POST like the input and named in `control`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { controlFromFlags } from '../../cli/control-flags.ts';
import { run as submit } from '../../cli/commands/submit.ts';
import { createApp } from '../../functions/app.ts';
import { fakeDeps, TEST_KEYS, videoBytes, type FakeDeps } from '../functions/fakes.ts';

let deps: FakeDeps;
let dir: string;
let stderr: string[];

/** Route the CLI's requests: the API to the app, the presigned POST into the fake bucket. */
function serve(app: ReturnType<typeof createApp>) {
  vi.stubGlobal('fetch', async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.startsWith('https://bucket.test/')) {
      const form = init!.body as FormData;
      const file = form.get('file') as File;
      await deps.storage.put(String(form.get('key')), new Uint8Array(await file.arrayBuffer()), String(form.get('Content-Type')));
      return new Response(null, { status: 204 });
    }
    return app.request(url.replace('http://api.test', ''), init);
  });
}

beforeEach(() => {
  deps = fakeDeps({ controlnetConfigured: true });
  serve(createApp(deps));
  dir = mkdtempSync(join(tmpdir(), 'ocd-submit-'));
  writeFileSync(join(dir, 'clip.mp4'), videoBytes(3000));
  writeFileSync(join(dir, 'depth.mp4'), videoBytes(1500, 'mp4', 9));
  stderr = [];
  vi.spyOn(console, 'error').mockImplementation((line: unknown) => void stderr.push(String(line)));
  vi.spyOn(console, 'log').mockImplementation(() => {});
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

const base = () => [join(dir, 'clip.mp4'), '--source', 'a brown bear walking', '--target', 'a red tiger walking', '--api', 'http://api.test', '--key', TEST_KEYS.alice];

describe('ocd submit --editor controlvideo', () => {
  it('uploads the control video and names it in the request', async () => {
    expect(await submit([...base(), '--control', 'video', '--control-video', join(dir, 'depth.mp4')])).toBe(0);
    const [job] = [...deps.jobs.jobs.values()];
    expect(job.options).toMatchObject({ editor: 'controlvideo', preset: 'controlvideo-ocd', control: { type: 'video' } });
    expect(deps.storage.objects.get(job.control!.key)?.body).toEqual(videoBytes(1500, 'mp4', 9));
    expect(job.request.control).toEqual({ type: 'video' });
  });

  it('sends canny thresholds, and the preset picks the editor', async () => {
    expect(await submit([...base(), '--preset', 'controlvideo', '--canny-low', '50', '--canny-high', '150', '--conditioning-scale', '0.8'])).toBe(0);
    const [job] = [...deps.jobs.jobs.values()];
    expect(job.options).toMatchObject({ editor: 'controlvideo', preset: 'controlvideo', control: { type: 'canny', low: 50, high: 150 }, conditioningScale: 0.8 });
    expect(job.control).toBeNull();
  });

  it("reports the service's controlnet_missing answer and exits 1", async () => {
    deps = fakeDeps({ controlnetConfigured: false });
    serve(createApp(deps));
    expect(await submit([...base(), '--editor', 'controlvideo'])).toBe(1);
    expect(stderr.join('\n')).toMatch(/HTTP 422: .*ControlNet/);
    expect(deps.jobs.jobs.size).toBe(0);
  });

  it.each([
    [['--control', 'depth'], /--control must be canny or video, got 'depth'/],
    [['--control', 'video'], /--control video needs --control-video/],
    [['--control-video', 'nowhere.mp4'], /nowhere.mp4 does not exist/],
    [['--editor', 'sdedit'], /--editor must be fatezero or controlvideo/],
    [['--canny-low', 'x'], /--canny-low must be a number/],
  ])('refuses %j before sending anything (exit 2)', async (flags, message) => {
    expect(await submit([...base(), ...flags])).toBe(2);
    expect(stderr.join('\n')).toMatch(message);
    expect(deps.storage.objects.size + deps.jobs.jobs.size).toBe(0);
  });
});

describe('controlFromFlags', () => {
  it('sets only what the flags say, implying ControlVideo for control flags', () => {
    expect(controlFromFlags({})).toEqual({ knobs: {} });
    expect(controlFromFlags({ editor: 'fatezero' })).toEqual({ knobs: { editor: 'fatezero' } });
    expect(controlFromFlags({ control: 'canny' })).toEqual({ knobs: { editor: 'controlvideo', control: { type: 'canny' } } });
    expect(controlFromFlags({ 'control-video': 'd.mp4' })).toEqual({ knobs: { editor: 'controlvideo', control: { type: 'video' } }, controlVideo: 'd.mp4' });
    expect(controlFromFlags({ 'canny-high': '180', preset: 'controlvideo' })).toEqual({ knobs: { control: { type: 'canny', high: 180 } } });
    expect(() => controlFromFlags({ control: 'canny', 'control-video': 'd.mp4' })).toThrow(/leave out --control canny/);
    expect(() => controlFromFlags({ 'control-video': 'd.mp4', 'canny-low': '10' })).toThrow(/apply to --control canny/);
  });
});

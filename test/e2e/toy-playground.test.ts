/**
 * The playground tried as a new user would, on the embedded toy model: upload nothing, press "Use the sample toy
 * clip" (it fills the "red" -> "blue" example), press run. The output must show a blue object (the benchmark's
 * colour rule) on the unchanged background (PSNR against the ground-truth edited clip outside the object).
 * Screenshot: test-artifacts/playground-toy.png.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskedPsnr, morph, objectColourIs, truthFrames } from '../../gpu-runner/bench/toy-quality/scoring.ts';
import { sampleClipParams } from '../../gpu-runner/toy-world/sample.ts';
import { COLOURS, editClip } from '../../gpu-runner/toy-world/world.ts';
import { decodeVideo } from '../../gpu-runner/video/index.ts';
import { REPO_ROOT } from '../support/paths.ts';
import { startLocalStack, type RunningStack } from './local-stack.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
let stack: RunningStack;
let workDir: string;

beforeAll(async () => {
  stack = await startLocalStack();
  workDir = await mkdtemp(join(tmpdir(), 'ocd-toy-e2e-'));
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe('the playground with the toy model', () => {
  it('edits the sample toy clip red -> blue in one click and a run', async () => {
    const { chromium } = await import('playwright-core');
    await mkdir(ARTIFACTS, { recursive: true });
    const browser = await chromium.launch({
      executablePath: process.env.OCD_CHROMIUM ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    let outputUrl: string;
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      await page.goto(`${stack.baseUrl}/#key=${stack.apiKey}`);
      await page.click('#use-sample');
      await page.waitForFunction(() => (document.getElementById('video') as HTMLInputElement).files?.length === 1, undefined, { timeout: 30_000 });
      expect(await page.inputValue('#target')).toContain('blue');
      await page.click('#submit');
      await page.waitForSelector('#result-panel:not([hidden])', { timeout: 280_000 });
      await page.waitForFunction(() => (document.getElementById('output-video') as HTMLVideoElement).readyState === 4, undefined, { timeout: 60_000 });
      expect(await page.locator('#error-text').isHidden()).toBe(true);
      await page.screenshot({ path: join(ARTIFACTS, 'playground-toy.png'), fullPage: true });
      outputUrl = await page.getAttribute('#output-video', 'src') ?? '';
    } finally {
      await browser.close();
    }
    const path = join(workDir, 'output.mp4');
    await writeFile(path, Buffer.from(await (await fetch(new URL(outputUrl, stack.baseUrl))).arrayBuffer()));
    const params = sampleClipParams();
    const video = await decodeVideo(path, { maxFrames: params.frames, selection: 'first', size: params.size });
    const edit = editClip(params, 'colour', COLOURS.indexOf('blue'));
    const truth = truthFrames(edit.target);
    expect(objectColourIs(video.frames, truth, params.size, edit.target.colour)).toBe(true);
    const outside = truth.map((t) => morph(t.mask, params.size, 2, 'dilate').map((v) => 1 - v));
    expect(maskedPsnr(video.frames, truth.map((t) => t.rgb), outside)).toBeGreaterThan(20);
  }, 420_000);
});

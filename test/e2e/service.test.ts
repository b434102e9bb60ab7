/**
 * The whole service on one machine, used the way a person would: the local stack as `npm start` runs it,
 * a client's HTTP round trip with a real clip, the printed curl example run as printed, the CLI client, and the
 * playground in a real browser.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type JobView } from '../../cli/api-client.ts';
import { ffprobeJson } from '../support/media.ts';
import { CLIPS_DIR, REPO_ROOT } from '../support/paths.ts';
import { accepts, externalIPv4 } from '../support/loopback.ts';
import { startLocalStack, type RunningStack } from './local-stack.ts';

const run = promisify(execFile);
const CLIP = join(CLIPS_DIR, 'bear_tiger_lion_leopard.mp4');
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
// Few steps keep the suite short on 2 cores; the pipeline is the same as with the presets' step counts.
const FAST = { frames: { count: 4 }, sampler: { steps: 4 } };

let stack: RunningStack;

/** The report of an edit that ran object-centric for real: as ocd, with a mask from the prompts that is neither empty nor the whole frame. */
function expectObjectCentric(report: Record<string, unknown>): void {
  expect(report).toHaveProperty('ranAs', 'ocd');
  const mask = report.mask as { areaFraction: number; source: string; words: string[] } | null;
  expect(mask).toMatchObject({ source: 'prompt-difference', words: ['brown', 'bear'] });
  expect(mask!.areaFraction).toBeGreaterThan(0);
  expect(mask!.areaFraction).toBeLessThan(1);
}
let workDir: string;

beforeAll(async () => {
  stack = await startLocalStack();
  workDir = await mkdtemp(join(tmpdir(), 'ocd-e2e-'));
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 60_000);

async function videoFacts(path: string) {
  const probe = await ffprobeJson(path);
  const video = (probe.streams as Record<string, unknown>[]).find((s) => s.codec_type === 'video')!;
  return { codec: video.codec_name, width: video.width, height: video.height, frames: Number(video.nb_frames), pixFmt: video.pix_fmt };
}

describe('the local stack', () => {
  it('serves health, the OpenAPI document and the playground', async () => {
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
    const doc = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/uploads', '/v1/edits', '/v1/edits/{id}', '/v1/edits/{id}/cancel']));
    const page = await fetch(`${stack.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form id="edit-form"');
    // the API answers on loopback only
    const external = externalIPv4();
    if (external) expect(await accepts(external, Number(new URL(stack.baseUrl).port))).toBe(false);
  });

  it('edits a real clip through presigned upload, create, poll and download', async () => {
    const client = new ApiClient({ baseUrl: stack.baseUrl, apiKey: stack.apiKey });
    const uploadId = await client.upload(CLIP);
    const created = await client.createEdit({ input: { uploadId }, sourcePrompt: 'a brown bear walking', targetPrompt: 'a red tiger walking', preset: 'ocd', ...FAST });
    expect(created.state).toBe('queued');
    const seen = new Set<string>();
    const job: JobView = await client.waitFor(created.id, (j) => seen.add(j.state), 500);
    expect(job.error ?? null).toBeNull();
    expect(job.state).toBe('succeeded');
    expect(seen.has('running') || seen.has('queued')).toBe(true);

    for (const kind of ['video', 'preview', 'report']) expect(job.outputs?.[kind]?.url).toMatch(/^http/);
    await client.download(job.outputs!.video.url, join(workDir, 'output.mp4'));
    await client.download(job.outputs!.preview.url, join(workDir, 'preview.mp4'));
    await client.download(job.outputs!.report.url, join(workDir, 'report.json'));
    const output = await videoFacts(join(workDir, 'output.mp4'));
    expect(output).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', frames: 4 });
    expect(Number(output.width) % 2).toBe(0);
    const preview = await videoFacts(join(workDir, 'preview.mp4'));
    expect(preview.frames).toBe(4);
    expect(Number(preview.width)).toBe(3 * Number(output.width));
    const report = JSON.parse(await readFile(join(workDir, 'report.json'), 'utf8')) as Record<string, unknown>;
    expect(report).toHaveProperty('preset', 'ocd');
    expectObjectCentric(report);
    // The job itself says what ran, the same as the report.
    const mask = report.mask as { areaFraction: number; source: string; words: string[] };
    expect(job.run).toEqual({ ranAs: 'ocd', note: null, mask: { areaFraction: mask.areaFraction, source: mask.source, words: mask.words } });
  });

  it('runs the printed curl example as printed', async () => {
    const banner = stack.output();
    const lines = banner.split('\n');
    const start = lines.findIndex((l) => l.trim().startsWith('curl -s') && l.includes('/v1/edits -H'));
    expect(start).toBeGreaterThan(-1);
    const command = `${lines[start]}\n${lines[start + 1]}`;
    const { stdout } = await run('bash', ['-c', command], { cwd: REPO_ROOT });
    const created = JSON.parse(stdout) as JobView;
    expect(created.state).toBe('queued');
    // The example runs the preset's full step count; the test only checks it is accepted and runs, then cancels it.
    const poll = lines.find((l) => l.includes('/v1/edits/<id>'))!.replace('<id>', created.id);
    const { stdout: view } = await run('bash', ['-c', poll]);
    expect((JSON.parse(view) as JobView).id).toBe(created.id);
    const client = new ApiClient({ baseUrl: stack.baseUrl, apiKey: stack.apiKey });
    await client.cancelEdit(created.id);
    const done = await client.waitFor(created.id, () => undefined, 500);
    expect(done.state).toBe('canceled');
  });

  it('runs the printed ocd submit example as printed: the quick start edit runs as ocd with a mask from the prompts\' difference', async () => {
    const hint = stack.output().split('\n').find((l) => l.includes('npx ocd submit'))!;
    const command = hint.slice(hint.indexOf('npx ocd submit'));
    expect(command).toContain(`--api ${stack.baseUrl}`);
    // As printed, from the repository, except that the outputs go to a temporary folder instead of ./out.
    const outDir = await mkdtemp(join(workDir, 'hint-'));
    expect(command).toMatch(/ --out-dir out$/);
    const { stderr } = await run('bash', ['-c', command.replace(/ --out-dir out$/, ` --out-dir '${outDir}'`)], { cwd: REPO_ROOT, timeout: 280_000 });
    expect(stderr).toContain('succeeded');
    // The printed example edits the sample toy clip on the embedded toy model ("red" -> "blue"): its auto mask follows
    // "red" and covers part of the frame (assets/toy-model/README.md: 47% measured on the rendered clip).
    expect(stderr).toMatch(/ran as ocd; mask \d+(\.\d)?% of the frame from the attention of "red" \(prompt-difference\)/);
    expect((await videoFacts(join(outDir, 'output.mp4'))).frames).toBe(8);
    const report = JSON.parse(await readFile(join(outDir, 'report.json'), 'utf8')) as { ranAs: string; mask: { areaFraction: number; source: string } | null };
    expect(report.ranAs).toBe('ocd');
    expect(report.mask).toMatchObject({ source: 'prompt-difference' });
    expect(report.mask!.areaFraction).toBeGreaterThan(0.05);
    expect(report.mask!.areaFraction).toBeLessThan(0.8);
  }, 300_000);

  it('is usable from the playground in a real browser', async () => {
    const { chromium } = await import('playwright-core');
    await mkdir(ARTIFACTS, { recursive: true });
    const browser = await chromium.launch({
      executablePath: process.env.OCD_CHROMIUM ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      await page.goto(`${stack.baseUrl}/#key=${stack.apiKey}`);
      await page.setInputFiles('#video', CLIP);
      await page.fill('#source', 'a brown bear walking');
      await page.fill('#target', 'a red tiger walking');
      await page.fill('#frames', '4');
      await page.fill('#steps', '4');
      await page.click('#submit');
      await page.waitForFunction(() => (document.getElementById('upload-progress') as HTMLProgressElement).value === 1, undefined, { timeout: 60_000 });
      await page.waitForFunction(() => /Queued|Running/.test(document.getElementById('status-text')!.textContent ?? ''), undefined, { timeout: 60_000 });
      await page.waitForSelector('#result-panel:not([hidden])', { timeout: 240_000 });
      await page.waitForFunction(() => (document.getElementById('output-video') as HTMLVideoElement).readyState === 4, undefined, { timeout: 60_000 });
      await page.waitForFunction(() => document.querySelectorAll('#report-table tbody tr').length > 0, undefined, { timeout: 30_000 });
      expect(await page.locator('#error-text').isHidden()).toBe(true);
      const facts = await page.locator('#report-facts').innerText();
      expect(facts).toMatch(/Ran as\s+ocd/);
      expect(facts).toMatch(/Mask\s+\d+(\.\d)?% of the frame, from the attention of "brown bear"/);
      expect(await page.locator('.panel-labels').innerText()).toMatch(/Input[\s\S]*Mask[\s\S]*Output/);
      await page.screenshot({ path: join(ARTIFACTS, 'playground.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});

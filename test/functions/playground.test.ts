/**
 * The playground in a real browser (headless Chromium) against the API in this process, with an in-memory bucket
 * the page uploads to: the ControlVideo editor, its presets and defaults, the control panel, the control video
 * upload, the preview's panel labels, and stale messages cleared when the editor changes.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app.ts';
import { REPO_ROOT } from '../support/paths.ts';
import { fakeDeps, TEST_KEYS, type FakeDeps } from './fakes.ts';

const CLIP = `${REPO_ROOT}/functions/public/samples/toy-clip.mp4`;
let deps: FakeDeps;
let server: ServerType;
let baseUrl: string;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  deps = fakeDeps({ controlnetConfigured: true, corsOrigins: [] });
  // The bucket lives on this server: presigned POSTs and GETs come back here.
  deps.storage.presignUpload = async (key, options) => ({ url: `${baseUrl}/__bucket`, fields: { key, 'Content-Type': options.contentType } });
  deps.storage.presignDownload = async (key) => `${baseUrl}/__bucket/${key}`;
  const site = new Hono();
  site.post('/__bucket', async (c) => {
    const form = await c.req.formData();
    const file = form.get('file') as File;
    await deps.storage.put(String(form.get('key')), new Uint8Array(await file.arrayBuffer()), String(form.get('Content-Type')));
    return c.body(null, 204);
  });
  site.get('/__bucket/*', async (c) => {
    const object = deps.storage.objects.get(c.req.path.slice('/__bucket/'.length));
    return object ? c.body(new Uint8Array(object.body), 200, { 'content-type': object.contentType }) : c.notFound();
  });
  site.use('/*', serveStatic({ root: 'functions/public' }));
  site.route('/', createApp(deps));
  server = serve({ fetch: site.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: process.env.OCD_CHROMIUM ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage();
  await page.goto(`${baseUrl}/#key=${TEST_KEYS.alice}`);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

const visiblePresets = () => page.$$eval('#preset option', (options) => (options as HTMLOptionElement[]).filter((o) => !o.hidden).map((o) => o.value));

describe('the playground with the ControlVideo editor', () => {
  it("switches presets, defaults and the control panel with the editor", async () => {
    expect(await visiblePresets()).toEqual(['ocd', 'optimized', 'fatezero']);
    expect(await page.locator('#control-fields').isHidden()).toBe(true);
    await page.selectOption('#editor', 'controlvideo');
    expect(await visiblePresets()).toEqual(['controlvideo-ocd', 'controlvideo-optimized', 'controlvideo']);
    expect(await page.inputValue('#preset')).toBe('controlvideo-ocd');
    expect([await page.inputValue('#frames'), await page.inputValue('#guidance')]).toEqual(['15', '12.5']);
    expect(await page.locator('#control-fields').isVisible()).toBe(true);
    expect(await page.locator('#canny-fields').isVisible()).toBe(true);
    await page.selectOption('#control-type', 'video');
    expect(await page.locator('#canny-fields').isHidden()).toBe(true);
    expect(await page.locator('#control-video').isVisible()).toBe(true);
  });

  it('uploads the control video with the clip, and labels the control panel of the preview', async () => {
    await page.setInputFiles('#video', CLIP);
    await page.setInputFiles('#control-video', CLIP);
    await page.fill('#source', 'a cube sliding');
    await page.fill('#target', 'a red cube sliding');
    await page.click('#submit');
    await page.waitForFunction(() => /Queued/.test(document.getElementById('status-text')!.textContent ?? ''), undefined, { timeout: 30_000 });
    const [job] = [...deps.jobs.jobs.values()];
    expect(job.options).toMatchObject({ editor: 'controlvideo', preset: 'controlvideo-ocd', control: { type: 'video' }, frames: { count: 15 }, sampler: { guidance: 12.5 } });
    expect(Buffer.from(deps.storage.objects.get(job.control!.key)!.body).equals(readFileSync(CLIP))).toBe(true);

    // The job finishes (as a runner would record it) with a report.
    const reportKey = `jobs/${job.id}/report.json`;
    await deps.storage.put(reportKey, new TextEncoder().encode(JSON.stringify({ preset: 'controlvideo-ocd', stages: { edit: 2 }, mask: null })), 'application/json');
    Object.assign(deps.jobs.jobs.get(job.id)!, { state: 'succeeded', outputs: { report: reportKey } });
    await page.waitForFunction(() => document.querySelectorAll('#report-table tbody tr').length > 0, undefined, { timeout: 30_000 });
    expect(await page.locator('#panel-labels span').allInnerTexts()).toEqual(['Input', 'Control video', 'Output']);
    expect(await page.innerText('#panel-caption')).toBe('Input, control video and output, side by side.');
  });

  it("shows the service's controlnet_missing answer, and clears it when the editor changes", async () => {
    deps.config.controlnetConfigured = false;
    await page.selectOption('#control-type', 'canny');
    await page.click('#submit');
    await page.waitForSelector('#error-text:not([hidden])', { timeout: 30_000 });
    expect(await page.innerText('#error-text')).toMatch(/422: .*ControlNet/);
    expect(await page.locator('#result-panel').isHidden()).toBe(true);
    await page.selectOption('#editor', 'fatezero');
    expect(await page.locator('#error-text').isHidden()).toBe(true);
    expect([await page.inputValue('#preset'), await page.inputValue('#frames'), await page.inputValue('#guidance')]).toEqual(['ocd', '8', '7.5']);
    expect(await page.locator('#control-fields').isHidden()).toBe(true);
  });
});

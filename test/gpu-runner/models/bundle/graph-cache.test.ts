import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builderVersion } from '../../../../gpu-runner/models/bundle/component-graphs.ts';
import { cachedGraph, graphCacheFolder, weightsFingerprint, type GraphCacheKey } from '../../../../gpu-runner/models/bundle/graph-cache.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-graph-cache-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const KEY: GraphCacheKey = { component: 'unet', weights: 'w1', builderVersion: 'b1', variant: '{"frames":8}' };

describe('graph cache', () => {
  it('builds once per key and returns the cached file afterwards', async () => {
    const cacheDir = join(scratch, 'once');
    let builds = 0;
    const build = (dir: string) => {
      builds++;
      writeFileSync(join(dir, 'unet.onnx'), 'model');
      writeFileSync(join(dir, 'unet.onnx.data'), 'weights');
    };
    const first = await cachedGraph(cacheDir, KEY, build);
    const second = await cachedGraph(cacheDir, KEY, build);
    expect(first).toEqual({ path: join(graphCacheFolder(cacheDir, KEY), 'unet.onnx'), built: true });
    expect(second).toEqual({ path: first.path, built: false });
    expect(builds).toBe(1);
    expect(existsSync(join(graphCacheFolder(cacheDir, KEY), 'unet.onnx.data'))).toBe(true);
  });

  it.each([['weights', 'w2'], ['builderVersion', 'b2'], ['variant', '{"frames":1}']] as const)('keys on %s', (field, value) => {
    expect(graphCacheFolder(scratch, { ...KEY, [field]: value })).not.toBe(graphCacheFolder(scratch, KEY));
  });

  it('leaves nothing behind when a build fails or writes no model', async () => {
    const cacheDir = join(scratch, 'failing');
    await expect(cachedGraph(cacheDir, KEY, () => { throw new Error('out of memory'); })).rejects.toThrow('out of memory');
    await expect(cachedGraph(cacheDir, KEY, () => undefined)).rejects.toThrow(/graph build for 'unet' wrote no unet\.onnx/);
    expect(readdirSync(join(cacheDir, 'graphs'))).toEqual([]);
  });

  it('fingerprints weight files by size and mtime', () => {
    const path = join(scratch, 'weights.safetensors');
    writeFileSync(path, 'abc');
    const before = weightsFingerprint([path]);
    expect(weightsFingerprint([path])).toBe(before);
    utimesSync(path, new Date(1000), new Date(2000));
    expect(weightsFingerprint([path])).not.toBe(before);
  });

  it('hashes the builder sources into a stable version', () => {
    expect(builderVersion()).toMatch(/^[0-9a-f]{16}$/);
    expect(builderVersion()).toBe(builderVersion());
  });
});

import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../gpu-runner/worker/logger.ts';
import { ControlNetUnavailableError, DOWNLOAD_MARKER, ModelUnavailableError, parseS3Uri, resolveControlNetDir, resolveModelDir } from '../../../gpu-runner/worker/model-source.ts';
import { useEmulators } from '../../support/emulators.ts';

const env = useEmulators();
let cacheDir: string;

const MODEL_FILES: Record<string, string> = {
  'model_index.json': '{"_class_name":"StableDiffusionPipeline"}',
  'unet/config.json': '{"sample_size":32}',
  'unet/diffusion_pytorch_model.safetensors': 'x'.repeat(70_000),
  'tokenizer/vocab.json': '{}',
};

async function uploadModel(prefix: string, files: Record<string, string>): Promise<void> {
  for (const [name, body] of Object.entries(files)) {
    await env.current.s3.send(new PutObjectCommand({ Bucket: env.current.resources.bucket, Key: `${prefix}${name}`, Body: body }));
  }
}

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'ocd-model-cache-'));
});
afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

describe('resolveModelDir', () => {
  it('downloads an S3 model folder once, checked, and reuses the cached copy', async () => {
    const h = env.current;
    await uploadModel('models/tiny/', MODEL_FILES);
    let gets = 0;
    h.s3.middlewareStack.add((next, context) => (args) => {
      if (context.commandName === 'GetObjectCommand') gets++;
      return next(args);
    }, { step: 'initialize', name: 'countGets' });
    const uri = `s3://${h.resources.bucket}/models/tiny`;
    const dir = await resolveModelDir({ modelUri: uri, cacheDir, s3: h.s3, logger: silentLogger });
    for (const [name, body] of Object.entries(MODEL_FILES)) expect(await readFile(join(dir, name), 'utf8')).toBe(body);
    expect(JSON.parse(await readFile(join(dir, DOWNLOAD_MARKER), 'utf8'))).toMatchObject({ uri, files: 4 });
    expect(gets).toBe(4);
    // Nothing half-written is left beside it.
    expect((await readdir(cacheDir)).filter((name) => name.startsWith('.tmp-'))).toEqual([]);

    const again = await resolveModelDir({ modelUri: uri, cacheDir, s3: h.s3, logger: silentLogger });
    expect(again).toBe(dir);
    expect(gets).toBe(4);
    h.s3.middlewareStack.remove('countGets');
  });

  it('downloads anew when the model in S3 changed', async () => {
    const h = env.current;
    await uploadModel('models/changing/', MODEL_FILES);
    const uri = `s3://${h.resources.bucket}/models/changing/`;
    const first = await resolveModelDir({ modelUri: uri, cacheDir, s3: h.s3, logger: silentLogger });
    await uploadModel('models/changing/', { 'unet/config.json': '{"sample_size":64}' });
    const second = await resolveModelDir({ modelUri: uri, cacheDir, s3: h.s3, logger: silentLogger });
    expect(second).not.toBe(first);
    expect(await readFile(join(second, 'unet/config.json'), 'utf8')).toBe('{"sample_size":64}');
  });

  it('fails with model_unavailable when the prefix holds no model_index.json', async () => {
    const h = env.current;
    await uploadModel('models/broken/', { 'unet/config.json': '{}' });
    const attempt = resolveModelDir({ modelUri: `s3://${h.resources.bucket}/models/broken/`, cacheDir, s3: h.s3, logger: silentLogger });
    await expect(attempt).rejects.toThrow(ModelUnavailableError);
    await expect(attempt).rejects.toThrow(/no model_index.json \(1 objects found\)/);
  });

  it('fails with model_unavailable when a downloaded file does not match its listing, leaving no partial folder', async () => {
    const h = env.current;
    await uploadModel('models/corrupt/', MODEL_FILES);
    // Corrupt the body of one object in transit.
    h.s3.middlewareStack.add((next, context) => async (args) => {
      const result = await next(args);
      const input = args.input as { Key?: string };
      if (context.commandName === 'GetObjectCommand' && input.Key?.endsWith('.safetensors')) {
        const { Readable } = await import('node:stream');
        (result.output as { Body: unknown }).Body = Readable.from([Buffer.from('y'.repeat(70_000))]);
      }
      return result;
    }, { step: 'initialize', name: 'corruptBody' });
    try {
      const attempt = resolveModelDir({ modelUri: `s3://${h.resources.bucket}/models/corrupt/`, cacheDir, s3: h.s3, logger: silentLogger });
      await expect(attempt).rejects.toThrow(/diffusion_pytorch_model.safetensors has MD5 [0-9a-f]{32} after download, but its ETag is/);
      expect((await readdir(cacheDir)).filter((name) => name.startsWith('.tmp-'))).toEqual([]);
    } finally {
      h.s3.middlewareStack.remove('corruptBody');
    }
  });

  it('uses OCD_MODEL_DIR as is, and checks it is a diffusers folder', async () => {
    const local = join(cacheDir, 'local-model');
    await mkdir(local, { recursive: true });
    await expect(resolveModelDir({ modelDir: local, cacheDir, s3: env.current.s3, logger: silentLogger })).rejects.toThrow(/has no model_index.json/);
    await writeFile(join(local, 'model_index.json'), '{}');
    await expect(resolveModelDir({ modelDir: local, cacheDir, s3: env.current.s3, logger: silentLogger })).resolves.toBe(local);
  });

  it('fails when no model is configured, naming both variables', async () => {
    await expect(resolveModelDir({ cacheDir, s3: env.current.s3, logger: silentLogger })).rejects.toThrow(/OCD_MODEL_DIR.*OCD_MODEL_URI/);
  });
});

describe('resolveControlNetDir', () => {
  const CONTROLNET_FILES = { 'config.json': '{"_class_name":"ControlNetModel"}', 'diffusion_pytorch_model.safetensors': 'c'.repeat(1000) };

  it('is undefined when no ControlNet is configured', async () => {
    await expect(resolveControlNetDir({ cacheDir, s3: env.current.s3, logger: silentLogger })).resolves.toBeUndefined();
  });

  it('downloads an S3 ControlNet folder into the cache like the model', async () => {
    const h = env.current;
    await uploadModel('controlnets/canny/', CONTROLNET_FILES);
    const dir = await resolveControlNetDir({ controlnetUri: `s3://${h.resources.bucket}/controlnets/canny/`, cacheDir, s3: h.s3, logger: silentLogger });
    expect(await readFile(join(dir!, 'config.json'), 'utf8')).toBe(CONTROLNET_FILES['config.json']);
    expect(JSON.parse(await readFile(join(dir!, DOWNLOAD_MARKER), 'utf8'))).toMatchObject({ files: 2 });
  });

  it('refuses an S3 prefix without config.json, and a folder of another diffusers class, with ControlNetUnavailableError', async () => {
    const h = env.current;
    await uploadModel('controlnets/empty/', { 'weights.bin': 'x' });
    const attempt = resolveControlNetDir({ controlnetUri: `s3://${h.resources.bucket}/controlnets/empty/`, cacheDir, s3: h.s3, logger: silentLogger });
    await expect(attempt).rejects.toThrow(ControlNetUnavailableError);
    await expect(attempt).rejects.toThrow(/no config.json \(1 objects found\)/);
    await uploadModel('controlnets/unet/', { 'config.json': '{"_class_name":"UNet2DConditionModel"}' });
    await expect(resolveControlNetDir({ controlnetUri: `s3://${h.resources.bucket}/controlnets/unet/`, cacheDir, s3: h.s3, logger: silentLogger })).rejects.toThrow(/describes a UNet2DConditionModel, not a ControlNetModel/);
  });

  it('uses OCD_CONTROLNET_DIR as is, once it has a ControlNet config.json', async () => {
    const local = join(cacheDir, 'local-controlnet');
    await mkdir(local, { recursive: true });
    const resolveLocal = () => resolveControlNetDir({ controlnetDir: local, cacheDir, s3: env.current.s3, logger: silentLogger });
    await expect(resolveLocal()).rejects.toThrow(/OCD_CONTROLNET_DIR=.* has no config.json/);
    await writeFile(join(local, 'config.json'), 'not json');
    await expect(resolveLocal()).rejects.toThrow(/config.json is not JSON/);
    await writeFile(join(local, 'config.json'), CONTROLNET_FILES['config.json']);
    await expect(resolveLocal()).resolves.toBe(local);
    const error = await resolveControlNetDir({ controlnetDir: join(cacheDir, 'nowhere'), cacheDir, s3: env.current.s3, logger: silentLogger }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('controlnet_invalid');
  });
});

describe('parseS3Uri', () => {
  it.each([
    ['s3://bucket/a/b', { bucket: 'bucket', prefix: 'a/b/' }],
    ['s3://bucket/a/b/', { bucket: 'bucket', prefix: 'a/b/' }],
    ['s3://bucket', { bucket: 'bucket', prefix: '' }],
  ])('%s', (uri, expected) => {
    expect(parseS3Uri(uri)).toEqual(expected);
  });

  it('rejects what is not an S3 URI', () => {
    expect(() => parseS3Uri('https://bucket/x')).toThrow(/not an S3 URI/);
  });
});

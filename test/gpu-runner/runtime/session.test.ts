import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICES, EXECUTION_PROVIDERS, parseDevice, providersFor } from '../../../gpu-runner/runtime/providers.ts';
import {
  cachedSessionCount, createSession, disposeAllSessions, runSession, type RuntimeLogger,
} from '../../../gpu-runner/runtime/session.ts';
import {
  describeTensor, float32Tensor, int64Tensor, tensorToFloat32, tensorToInt64,
} from '../../../gpu-runner/runtime/tensors.ts';
import { writeTinyModel } from './tiny-model.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-runtime-'));
const modelPath = join(scratch, 'tiny.onnx');

beforeAll(() => writeTinyModel(modelPath));
afterAll(async () => {
  await disposeAllSessions();
  rmSync(scratch, { recursive: true, force: true });
});

function recordingLogger(): RuntimeLogger & { warnings: string[]; errors: string[] } {
  const warnings: string[] = [];
  const errors: string[] = [];
  return { warnings, errors, warn: (m) => warnings.push(m), error: (m) => errors.push(m) };
}

describe('providers', () => {
  it('maps devices to providers through a frozen table', () => {
    expect(providersFor('cpu')).toEqual(['cpu']);
    expect(providersFor('cuda')).toEqual(['cuda', 'cpu']);
    expect(Object.isFrozen(EXECUTION_PROVIDERS)).toBe(true);
    expect(Object.isFrozen(EXECUTION_PROVIDERS.cuda)).toBe(true);
    expect(providersFor('webgpu')).toEqual(['webgpu', 'cpu']);
    expect(DEVICES).toEqual(['cpu', 'cuda', 'webgpu']);
  });

  it('fails on an unknown device, listing the allowed ones', () => {
    expect(() => parseDevice('tpu')).toThrow("unknown device 'tpu'; allowed: cpu, cuda, webgpu (set OCD_PROVIDER to one of them)");
  });
});

describe('sessions', () => {
  it('runs a model and converts tensors both ways', async () => {
    const session = await createSession(modelPath, { provider: 'cpu', intraOpNumThreads: 1 });
    expect(session.inputNames).toEqual(['x', 'ids']);
    const out = await runSession(session, {
      x: float32Tensor(new Float32Array([10, 20, 30, 40, 50, 60]), [2, 3]),
      ids: int64Tensor([5, 6, 7, 8], [4]),
    });
    expect([...tensorToFloat32(out.sum)]).toEqual([11, 22, 33, 41, 52, 63]);
    expect(tensorToInt64(out.count)[0]).toBe(4n);
    expect(describeTensor(out.sum)).toBe('float32 [2, 3]');
  });

  it('caches by (path, options) and forgets a disposed session', async () => {
    await disposeAllSessions();
    const a = await createSession(modelPath, { intraOpNumThreads: 1 });
    const b = await createSession(modelPath, { intraOpNumThreads: 1, provider: 'cpu' });
    const c = await createSession(modelPath, { intraOpNumThreads: 2 });
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(cachedSessionCount()).toBe(2);
    await a.dispose();
    expect(cachedSessionCount()).toBe(1);
    expect(await createSession(modelPath, { intraOpNumThreads: 1 })).not.toBe(a);
  });

  it('throws listing missing inputs and warns about extra feeds', async () => {
    const session = await createSession(modelPath);
    const logger = recordingLogger();
    await expect(runSession(session, { x: float32Tensor(new Float32Array(3), [1, 3]) }, logger))
      .rejects.toThrow(/missing inputs ids; the graph takes x, ids/);
    const out = await runSession(session, {
      x: float32Tensor(new Float32Array(3), [1, 3]), ids: int64Tensor([1], [1]), unused: int64Tensor([1], [1]),
    }, logger);
    expect([...tensorToFloat32(out.sum)]).toEqual([1, 2, 3]);
    expect(logger.warnings).toEqual([`${modelPath}: ignoring feeds the graph does not take: unused`]);
  });

  it('logs dtypes and dims of the inputs when a run fails, then rethrows', async () => {
    const session = await createSession(modelPath);
    const logger = recordingLogger();
    await expect(runSession(session, {
      x: float32Tensor(new Float32Array(4), [1, 4]), ids: int64Tensor([1], [1]),
    }, logger)).rejects.toThrow();
    expect(logger.errors).toEqual([`${modelPath}: run failed with inputs x: float32 [1, 4]; ids: int64 [1]`]);
  });

  it('names the path when a model cannot be loaded, and rejects bad thread counts', async () => {
    await expect(createSession(join(scratch, 'absent.onnx'))).rejects.toThrow(/cannot create an onnxruntime session for .*absent\.onnx on cpu/);
    expect(() => createSession(modelPath, { intraOpNumThreads: 1.5 })).toThrow('intraOpNumThreads must be a non-negative integer');
  });

  it('rejects tensor data that does not fit the dims', () => {
    expect(() => float32Tensor(new Float32Array(5), [2, 3])).toThrow('float32 tensor data has 5 elements but dims [2, 3] need 6');
    expect(() => tensorToInt64(float32Tensor(new Float32Array(1), [1]))).toThrow('expected an int64 tensor, got float32 [1]');
  });
});

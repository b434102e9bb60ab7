import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, hostTraffic, runSession } from '../../../gpu-runner/runtime/session.ts';
import { float32Tensor, int64Tensor } from '../../../gpu-runner/runtime/tensors.ts';
import { writeTinyModel } from './tiny-model.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-traffic-'));
const modelPath = join(scratch, 'tiny.onnx');
beforeAll(() => writeTinyModel(modelPath));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('host traffic of session runs', () => {
  it('counts the bytes of host feeds and host outputs per run', async () => {
    const session = await createSession(modelPath, { intraOpNumThreads: 1 });
    const before = hostTraffic();
    await runSession(session, { x: float32Tensor(new Float32Array(6), [2, 3]), ids: int64Tensor([1, 2, 3, 4], [4]) });
    const after = hostTraffic();
    // feeds: 6 float32 + 4 int64 = 56 bytes; outputs: sum 6 float32 + count 1 int64 = 32 bytes
    expect(after.feedBytes - before.feedBytes).toBe(56);
    expect(after.outputBytes - before.outputBytes).toBe(32);
    expect(after.deviceBytes - before.deviceBytes).toBe(0);
    expect(after.runs - before.runs).toBe(1);
  });

  it('device outputs need the webgpu provider: the CPU and CUDA providers return outputs to the host', () => {
    expect(() => createSession(modelPath, { provider: 'cpu', deviceOutputs: 'all' })).toThrow('deviceOutputs needs the webgpu provider');
    expect(() => createSession(modelPath, { provider: 'cuda', deviceOutputs: ['sum'] })).toThrow("onnxruntime-node's cuda provider returns every output to the host");
  });
});

/**
 * ControlVideo jobs in the worker, against the loopback emulators with the fake engine: the control video is
 * downloaded and checked like a mask and handed to the engine; bad control videos and a worker without a
 * ControlNet fail the job at once with their own codes.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EditVideoFileArgs } from '../../../gpu-runner/worker/engine-port.ts';
import { useEmulators } from '../../support/emulators.ts';
import { makeClip, makeTestInputs, type TestInputs } from './support/clips.ts';
import { createFakeEngine, type FakeReport } from './support/fake-engine.ts';
import { createTestQueue, seedJob, startInProcessWorker, waitForState } from './support/jobs.ts';

const env = useEmulators();
let inputs: TestInputs;
let controls: { eightFrames: Buffer; wide: Buffer };

const controlvideo = { editor: 'controlvideo', preset: 'controlvideo-optimized', sampler: { steps: 3 }, inversion: { steps: 3 }, frames: { count: 4 } } as const;

beforeAll(async () => {
  inputs = await makeTestInputs();
  await makeClip(join(inputs.dir, 'eight.mp4'), 8);
  // The same 16 frames as the good clip, at another aspect ratio.
  await promisify(execFile)('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=128x64:rate=8', '-frames:v', '16',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', join(inputs.dir, 'wide.mp4')]);
  controls = { eightFrames: await readFile(join(inputs.dir, 'eight.mp4')), wide: await readFile(join(inputs.dir, 'wide.mp4')) };
});
afterAll(async () => {
  await rm(inputs.dir, { recursive: true, force: true });
});

/** The fake engine, recording what each job handed it. */
function recordingEngine() {
  const fake = createFakeEngine({ stepMs: 10 });
  const calls: EditVideoFileArgs[] = [];
  const controlBytes: (Buffer | undefined)[] = [];
  const engine = {
    ...fake,
    async editVideoFile(args: EditVideoFileArgs) {
      calls.push(args);
      controlBytes.push(args.controlPath ? await readFile(args.controlPath) : undefined);
      return fake.editVideoFile(args);
    },
  };
  return { engine, calls, controlBytes };
}

describe('a ControlVideo job', () => {
  it('downloads its control video and hands it to the engine; canny jobs get none', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const { engine, calls, controlBytes } = recordingEngine();
    const running = await startInProcessWorker(h, { queueUrl, engine });
    try {
      const withVideo = await seedJob(h, { queueUrl, input: inputs.good, control: inputs.good, request: { ...controlvideo, control: { type: 'video' } } });
      const job = await waitForState(h, withVideo, ['succeeded', 'failed', 'canceled']);
      expect({ state: job.state, error: job.error }).toEqual({ state: 'succeeded', error: null });
      expect(calls[0].options.control).toEqual({ type: 'video' });
      expect(controlBytes[0]?.equals(inputs.good)).toBe(true);
      const stored = await h.s3.send(new GetObjectCommand({ Bucket: h.resources.bucket, Key: job.outputs!.report! }));
      expect((JSON.parse(await stored.Body!.transformToString()) as FakeReport).control).toBe('video');

      const canny = await seedJob(h, { queueUrl, input: inputs.good, request: controlvideo });
      expect((await waitForState(h, canny, ['succeeded', 'failed', 'canceled'])).state).toBe('succeeded');
      expect(calls[1].controlPath).toBeUndefined();
      expect(calls[1].options.control).toEqual({ type: 'canny', low: 100, high: 200 });
    } finally {
      await running.stop();
    }
  });

  it('fails each bad control video at once with its own code', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const { engine } = recordingEngine();
    const running = await startInProcessWorker(h, { queueUrl, engine });
    try {
      const cases = [
        { name: 'a missing control upload', control: 'missing' as const, code: 'control_unreadable' },
        { name: 'a text file as control video', control: inputs.textAsMp4, code: 'control_unreadable' },
        { name: 'a zero-byte control video', control: Buffer.alloc(0), code: 'control_unreadable' },
        { name: 'a control video with fewer frames', control: controls.eightFrames, code: 'control_frame_count' },
        { name: 'a control video of another aspect ratio', control: controls.wide, code: 'control_size' },
      ];
      const ids: string[] = [];
      for (const c of cases) ids.push(await seedJob(h, { queueUrl, input: inputs.good, control: c.control, request: { ...controlvideo, control: { type: 'video' } } }));
      for (const [i, c] of cases.entries()) {
        const job = await waitForState(h, ids[i], ['succeeded', 'failed', 'canceled']);
        expect({ case: c.name, state: job.state, code: job.error?.code, attempt: job.attempt }).toEqual({ case: c.name, state: 'failed', code: c.code, attempt: 1 });
        expect(job.error?.message).not.toMatch(/\/tmp\/|ocd-worker|uploads\//);
      }
    } finally {
      await running.stop();
    }
  });

  it.each(['controlnet_missing', 'controlnet_invalid'] as const)('fails at once with %s on a worker without a ControlNet, while FateZero jobs run', async (code) => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const { engine, calls } = recordingEngine();
    const running = await startInProcessWorker(h, { queueUrl, engine, controlnetProblem: { code, message: `No ControlNet here (${code}).` } });
    try {
      const cv = await seedJob(h, { queueUrl, input: inputs.good, request: controlvideo });
      const fatezero = await seedJob(h, { queueUrl, input: inputs.good });
      const failed = await waitForState(h, cv, ['succeeded', 'failed', 'canceled']);
      expect({ state: failed.state, code: failed.error?.code, message: failed.error?.message, attempt: failed.attempt }).toEqual({ state: 'failed', code, message: `No ControlNet here (${code}).`, attempt: 1 });
      expect((await waitForState(h, fatezero, ['succeeded', 'failed', 'canceled'])).state).toBe('succeeded');
      expect(calls.map((args) => args.options.editor)).toEqual(['fatezero']);
    } finally {
      await running.stop();
    }
  });
});

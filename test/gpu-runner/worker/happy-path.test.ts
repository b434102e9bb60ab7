/**
 * The happy path with everything real: the worker entry (gpu-runner/worker/main.ts) in its own process, the
 * real engine on the tiny bundle, a real clip from the shared data, the loopback emulators. The job goes
 * queued -> running -> succeeded, the outputs are valid videos and the report is complete (method.md §7).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTinyBundle } from '../../../gpu-runner/models/bundle/tiny.ts';
import { JOB_STAGES } from '../../../shared/job.ts';
import { jobOutputKey } from '../../../shared/s3-keys.ts';
import { useEmulators } from '../../support/emulators.ts';
import { CLIP_BPE_GZ, CLIPS_DIR, readClipManifest } from '../../support/paths.ts';
import { createTestQueue, getJob, seedJob, waitFor } from './support/jobs.ts';
import { killAllWorkers, spawnWorker, waitForLine } from './support/processes.ts';

const run = promisify(execFile);
const env = useEmulators();
let workDir: string;
let modelDir: string;


beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ocd-happy-'));
  modelDir = ensureTinyBundle({ bpeVocabGzPath: CLIP_BPE_GZ });
});
afterAll(async () => {
  await killAllWorkers();
  await rm(workDir, { recursive: true, force: true });
});

async function ffprobe(path: string): Promise<{ frames: number; width: number; height: number; fps: number; codec: string; pixFmt: string }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_streams', '-of', 'json', path]);
  const stream = (JSON.parse(stdout) as { streams: Record<string, string | number>[] }).streams[0];
  const [num, den] = String(stream.avg_frame_rate).split('/').map(Number);
  return {
    frames: Number(stream.nb_read_frames),
    width: Number(stream.width),
    height: Number(stream.height),
    fps: num / den,
    codec: String(stream.codec_name),
    pixFmt: String(stream.pix_fmt),
  };
}

async function download(key: string, path: string): Promise<string> {
  const object = await env.current.s3.send(new GetObjectCommand({ Bucket: env.current.resources.bucket, Key: key }));
  await writeFile(path, await object.Body!.transformToByteArray());
  return path;
}

describe('happy path with the real engine and the tiny bundle', () => {
  it('edits a real clip: queued -> running -> succeeded, valid outputs, complete report', async () => {
    const h = env.current;
    const manifest = readClipManifest();
    const clip = manifest.find((c) => c.id === 'bear_tiger_lion_leopard')!;
    const { queueUrl } = await createTestQueue(h, { visibilitySeconds: 30 });
    const worker = spawnWorker('gpu-runner/worker/main.ts', ['--wait-seconds', '1', '--progress-interval-ms', '500', '--heartbeat-seconds', '5'], {
      ...h.env,
      OCD_QUEUE_URL: queueUrl,
      OCD_MODEL_DIR: modelDir,
      OCD_MODEL_CACHE_DIR: join(workDir, 'cache'),
      OCD_HEALTH_PORT: '0',
    });
    const healthLine = await waitForLine(worker, (l) => l.msg === 'health server listening', 60_000);
    await waitForLine(worker, (l) => l.msg === 'worker ready', 120_000);
    const health = await fetch(`http://127.0.0.1:${String(healthLine.port)}/healthz`);
    expect(health.status).toBe(200);

    const id = await seedJob(h, {
      queueUrl,
      input: await readFile(join(CLIPS_DIR, clip.file)),
      request: {
        sourcePrompt: clip.source_prompt,
        targetPrompt: clip.edits[0].target_prompt,
        preset: 'ocd',
        sampler: { steps: 4 },
        frames: { count: clip.frames },
      },
    });
    const seen: string[] = [];
    const job = await waitFor('the job to finish', async () => {
      const current = await getJob(h, id);
      if (seen.at(-1) !== current.state) seen.push(current.state);
      return ['succeeded', 'failed', 'canceled'].includes(current.state) ? current : undefined;
    }, 150_000, 50);
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    expect(seen).toEqual(['queued', 'running', 'succeeded']);

    const output = await ffprobe(await download(jobOutputKey(id, 'video'), join(workDir, 'output.mp4')));
    const preview = await ffprobe(await download(jobOutputKey(id, 'preview'), join(workDir, 'preview.mp4')));
    const report = JSON.parse(await readFile(await download(jobOutputKey(id, 'report'), join(workDir, 'report.json')), 'utf8')) as Record<string, unknown>;

    // The tiny bundle works at 256 px (sample_size 32 x VAE factor 8); the clip is 512x512, 8 frames at 8 fps.
    expect(output).toEqual({ frames: clip.frames, width: 256, height: 256, fps: clip.fps, codec: 'h264', pixFmt: 'yuv420p' });
    expect(preview.frames).toBe(clip.frames);
    expect(preview.height).toBe(256);
    expect(preview.width).toBeGreaterThanOrEqual(2 * 256);
    expect(preview.fps).toBe(clip.fps);

    // method.md §7: stage times, UNet calls and token-steps, store bytes, peak memory, mask, knobs, seed, model.
    expect(report).toMatchObject({ preset: 'ocd', frames: clip.frames, seed: job.options.seed, options: job.options });
    const stages = report.stages as Record<string, number>;
    for (const stage of ['text', 'vaeEncode', 'inversion', 'edit', 'vaeDecode']) expect(stages[stage]).toBeGreaterThan(0);
    expect(report.unetCalls).toBeGreaterThan(0);
    expect(report.tokenSteps).toBeGreaterThan(0);
    expect((report.attentionStore as { bytes: number }).bytes).toBeGreaterThan(0);
    expect(report.peakRssBytes).toBeGreaterThan(0);
    expect(typeof (report.model as { identity: string }).identity).toBe('string');
    expect(report).toHaveProperty('mask');

    // One EMF record for the job on the worker's stdout, which may be written after the final state: read it all first.
    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    const metrics = worker.lines.filter((l) => l.jobId === id && l._aws !== undefined);
    expect(metrics).toHaveLength(1);
    expect(metrics[0]).toMatchObject({ Outcome: 'succeeded', Preset: 'ocd', Frames: clip.frames });
    for (const stage of JOB_STAGES) expect(typeof metrics[0][`Stage_${stage}`]).toBe('number');
    expect(metrics[0].Stage_edit).toBeGreaterThan(0);
    if (process.env.OCD_PRINT_WORKER_METRICS) console.log(JSON.stringify(metrics[0]));

    expect(job.progress?.fraction).toBe(1);
    // Every stage of the shared stage list has a time on the job record (seconds).
    expect(Object.keys(job.timings)).toEqual(expect.arrayContaining([...JOB_STAGES]));
    expect(job.timings.edit).toBeGreaterThan(0);
  }, 300_000);
});

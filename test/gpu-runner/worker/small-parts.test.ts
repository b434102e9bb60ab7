/** Unit tests of the worker's small parts: progress throttling, metrics records, flags, health, scale-in protection. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer } from '../../../gpu-runner/worker/health-server.ts';
import { buildJobMetricsRecord, StageTimer } from '../../../gpu-runner/worker/job-metrics.ts';
import type { JobProgressUpdate } from '../../../gpu-runner/worker/job-port.ts';
import { silentLogger } from '../../../gpu-runner/worker/logger.ts';
import { overallFraction, ProgressReporter } from '../../../gpu-runner/worker/progress-reporter.ts';
import { createScaleInProtection } from '../../../gpu-runner/worker/scale-in-protection.ts';
import { parseWorkerFlags, WORKER_FLAGS } from '../../../gpu-runner/worker/worker-process.ts';

describe('ProgressReporter', () => {
  it('writes at most once per interval, never two at once, and never goes backwards', async () => {
    let clock = 0;
    const writes: JobProgressUpdate[] = [];
    let release: (() => void) | undefined;
    const reporter = new ProgressReporter(
      (update) => {
        writes.push(update);
        return new Promise<void>((resolve) => (release = resolve));
      },
      () => {},
      2000,
      () => clock,
    );
    reporter.tick({ stage: 'inversion', step: 1, steps: 10 });
    expect(writes).toHaveLength(1);
    clock = 2500;
    reporter.tick({ stage: 'inversion', step: 2, steps: 10 }); // a write is still running: skipped
    expect(writes).toHaveLength(1);
    release!();
    await reporter.settle();
    reporter.tick({ stage: 'inversion', step: 3, steps: 10 });
    expect(writes).toHaveLength(2);
    clock = 3000;
    release!();
    await reporter.settle();
    reporter.tick({ stage: 'inversion', step: 4, steps: 10 }); // within 2 s of the last write
    expect(writes).toHaveLength(2);
    expect(writes.map((w) => w.step)).toEqual([1, 3]);
    expect(writes[1].fraction).toBeGreaterThan(writes[0].fraction);
  });

  it('maps stages into one overall fraction', () => {
    expect(overallFraction({ stage: 'inversion', step: 0, steps: 10 }, 0)).toBeCloseTo(0.1);
    expect(overallFraction({ stage: 'inversion', step: 5, steps: 10 }, 0)).toBeCloseTo(0.3);
    expect(overallFraction({ stage: 'edit', step: 10, steps: 10 }, 0)).toBeCloseTo(0.92);
    expect(overallFraction({ stage: 'something-new', step: 1, steps: 2 }, 0.4)).toBe(0.4);
    expect(overallFraction({ stage: 'decode', step: 1, steps: 1 }, 0.7)).toBe(0.7);
  });
});

describe('metrics', () => {
  it('builds one EMF record with every metric declared and its value at the top level', () => {
    const record = buildJobMetricsRecord(
      { jobId: 'job_1', outcome: 'succeeded', preset: 'ocd', frames: 8, queueWaitMs: 1200, runMs: 5400, stageMs: { download: 12.4, edit: 4000 } },
      new Date(1_700_000_000_000),
    );
    const aws = record._aws as { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
    expect(aws.Timestamp).toBe(1_700_000_000_000);
    const [directive] = aws.CloudWatchMetrics;
    expect(directive.Dimensions).toEqual([['Outcome'], ['Preset', 'Outcome']]);
    for (const metric of directive.Metrics) expect(typeof record[metric.Name]).toBe('number');
    expect(record).toMatchObject({ Outcome: 'succeeded', Preset: 'ocd', jobId: 'job_1', QueueWait: 1200, RunTime: 5400, Frames: 8, Stage_download: 12, Stage_edit: 4000 });
  });

  it('StageTimer adds time per stage', () => {
    let t = 0;
    const timer = new StageTimer(() => t);
    timer.enter('a');
    t = 10;
    timer.enter('b');
    t = 25;
    timer.enter('a');
    t = 30;
    timer.stop();
    expect(timer.totals).toEqual({ a: 15, b: 15 });
  });
});

describe('parseWorkerFlags', () => {
  it('uses the defaults', () => {
    const flags = parseWorkerFlags([]);
    for (const [name, spec] of Object.entries(WORKER_FLAGS)) expect(flags[name as keyof typeof WORKER_FLAGS]).toBe(spec.default);
  });

  it('fails on a bad value, naming the flag and the value', () => {
    expect(() => parseWorkerFlags(['--visibility-seconds', 'abc'])).toThrow(/--visibility-seconds abc/);
  });

  it('fails when the heartbeat is not shorter than the visibility', () => {
    expect(() => parseWorkerFlags(['--visibility-seconds', '10', '--heartbeat-seconds', '10'])).toThrow(/must be less than/);
  });
});

describe('health server', () => {
  it('answers 503 while loading, 200 when ready and draining', async () => {
    const health = await startHealthServer(0, '127.0.0.1');
    try {
      const get = () => fetch(`http://127.0.0.1:${health.port}/healthz`);
      let response = await get();
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ status: 'loading' });
      health.setPhase('ready');
      expect((await get()).status).toBe(200);
      health.setPhase('draining');
      expect((await get()).status).toBe(200);
      health.setPhase('failed', 'no model');
      response = await get();
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ status: 'failed', detail: 'no model' });
      expect((await fetch(`http://127.0.0.1:${health.port}/other`)).status).toBe(404);
    } finally {
      await health.close();
    }
  });
});

describe('scale-in protection', () => {
  let agent: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (agent ? agent.close(() => resolve()) : resolve()));
    agent = undefined;
  });

  it('PUTs the ECS agent state on each change only', async () => {
    const calls: { method?: string; url?: string; body: unknown }[] = [];
    agent = createServer((request, response) => {
      let body = '';
      request.on('data', (c) => (body += c));
      request.on('end', () => {
        calls.push({ method: request.method, url: request.url, body: JSON.parse(body) });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => agent!.listen(0, '127.0.0.1', resolve));
    const protection = createScaleInProtection({ agentUri: `http://127.0.0.1:${(agent.address() as AddressInfo).port}`, logger: silentLogger, expiresInMinutes: 45 });
    await protection.set(true);
    await protection.set(true);
    await protection.set(false);
    expect(calls).toEqual([
      { method: 'PUT', url: '/task-protection/v1/state', body: { ProtectionEnabled: true, ExpiresInMinutes: 45 } },
      { method: 'PUT', url: '/task-protection/v1/state', body: { ProtectionEnabled: false } },
    ]);
  });

  it('is a no-op without an agent endpoint, and never throws when the agent is down', async () => {
    await expect(createScaleInProtection({ agentUri: undefined, logger: silentLogger }).set(true)).resolves.toBeUndefined();
    await expect(createScaleInProtection({ agentUri: 'http://127.0.0.1:9', logger: silentLogger, timeoutMs: 500 }).set(true)).resolves.toBeUndefined();
  });

  it('rejects an expiry outside the ECS range', () => {
    expect(() => createScaleInProtection({ agentUri: 'http://x', logger: silentLogger, expiresInMinutes: 5000 })).toThrow(/1\.\.2880.*5000/);
  });
});

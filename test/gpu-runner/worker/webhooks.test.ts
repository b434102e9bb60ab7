import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../gpu-runner/worker/logger.ts';
import type { PinnedPost } from '../../../gpu-runner/worker/webhook-transport.ts';
import { backoffDelayMs, isRetryableStatus, WebhookSender } from '../../../gpu-runner/worker/webhooks.ts';
import { checkWebhookUrl } from '../../../shared/webhook-url.ts';

const SECRET = `whsec_${Buffer.from('a-test-secret-of-some-length-123').toString('base64')}`;

interface Receiver {
  url: string;
  requests: { headers: IncomingHttpHeaders; body: string; at: number }[];
  close(): Promise<void>;
}

/** A loopback receiver answering with `statuses` in turn (the last one repeats). */
async function startReceiver(statuses: number[], delayMs = 0): Promise<Receiver> {
  const requests: Receiver['requests'] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      requests.push({ headers: request.headers, body, at: Date.now() });
      const status = statuses[Math.min(requests.length - 1, statuses.length - 1)];
      setTimeout(() => response.writeHead(status).end(), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

let receiver: Receiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

const event = { type: 'edit.succeeded' as const, jobId: 'job_1', data: { state: 'succeeded' } };

describe('WebhookSender', () => {
  it('signs so that the standardwebhooks verifier accepts the delivery', async () => {
    receiver = await startReceiver([200]);
    const sender = new WebhookSender({ secret: SECRET, allowPrivate: true, logger: silentLogger });
    expect(await sender.send(receiver.url, event)).toEqual({ delivered: true, attempts: 1, lastStatus: 200 });
    const [request] = receiver.requests;
    const payload = new Webhook(SECRET).verify(request.body, request.headers as Record<string, string>) as { type: string; data: { id: string } };
    expect(payload.type).toBe('edit.succeeded');
    expect(payload.data.id).toBe('job_1');
    expect(request.headers['webhook-id']).toBe('msg_job_1_edit_succeeded');
    expect(() => new Webhook(`whsec_${Buffer.from('another-secret-entirely-0000000').toString('base64')}`).verify(request.body, request.headers as Record<string, string>)).toThrow();
  });

  it('delivers to a receiver that fails twice exactly once more, then stops', async () => {
    receiver = await startReceiver([500, 503, 200]);
    const sender = new WebhookSender({ secret: SECRET, allowPrivate: true, logger: silentLogger, initialDelayMs: 50 });
    const outcome = await sender.send(receiver.url, event);
    expect(outcome).toEqual({ delivered: true, attempts: 3, lastStatus: 200 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests).toHaveLength(3);
    // Same id on every try (receivers deduplicate on it); each try signed afresh and valid.
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
    for (const r of receiver.requests) expect(() => new Webhook(SECRET).verify(r.body, r.headers as Record<string, string>)).not.toThrow();
    // Backoff: the second wait is about twice the first.
    const [a, b, c] = receiver.requests.map((r) => r.at);
    expect(b - a).toBeGreaterThanOrEqual(35);
    expect(c - b).toBeGreaterThanOrEqual(75);
  });

  it('gives up after maxAttempts on a receiver that always fails', async () => {
    receiver = await startReceiver([500]);
    const sender = new WebhookSender({ secret: SECRET, allowPrivate: true, logger: silentLogger, initialDelayMs: 10, maxAttempts: 4 });
    expect(await sender.send(receiver.url, event)).toEqual({ delivered: false, attempts: 4, lastStatus: 500 });
    expect(receiver.requests).toHaveLength(4);
  });

  it('does not retry a 4xx that means no (e.g. 410 Gone)', async () => {
    receiver = await startReceiver([410, 200]);
    const sender = new WebhookSender({ secret: SECRET, allowPrivate: true, logger: silentLogger, initialDelayMs: 10 });
    expect(await sender.send(receiver.url, event)).toEqual({ delivered: false, attempts: 1, lastStatus: 410 });
    expect(receiver.requests).toHaveLength(1);
  });

  it('returns at once from send (a slow receiver never holds up the caller) and drain is bounded', async () => {
    receiver = await startReceiver([200], 5000);
    const sender = new WebhookSender({ secret: SECRET, allowPrivate: true, logger: silentLogger, timeoutMs: 10_000 });
    const started = Date.now();
    void sender.send(receiver.url, event);
    expect(Date.now() - started).toBeLessThan(50);
    expect(sender.pending).toBe(1);
    await sender.drain(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(sender.pending).toBe(0);
  });

  it('sends nothing without a secret', async () => {
    receiver = await startReceiver([200]);
    const sender = new WebhookSender({ secret: undefined, allowPrivate: true, logger: silentLogger });
    expect(await sender.send(receiver.url, event)).toEqual({ delivered: false, attempts: 0 });
    expect(receiver.requests).toHaveLength(0);
  });

  it('fails at construction on maxAttempts below 1, naming the value', () => {
    expect(() => new WebhookSender({ secret: SECRET, allowPrivate: true, logger: silentLogger, maxAttempts: 0 })).toThrow(/maxAttempts.*got 0/);
  });
});

describe('WebhookSender checks where it sends', () => {
  it('refuses at delivery a host that resolved to a public address at create time and to 127.0.0.1 now', async () => {
    receiver = await startReceiver([200]);
    const port = new URL(receiver.url).port;
    const url = `https://hooks.example:${port}/hooks`;
    let lookups = 0;
    // DNS rebinding: the first answer (the API's check) is public, every later one loopback.
    const rebinding = async () => (lookups++ === 0 ? ['93.184.216.34'] : ['127.0.0.1']);
    expect(await checkWebhookUrl(url, { resolveHost: rebinding })).toBeUndefined();
    const sender = new WebhookSender({ secret: SECRET, logger: silentLogger, resolveHost: rebinding });
    const outcome = await sender.send(url, event);
    expect(outcome).toMatchObject({ delivered: false, attempts: 1, refused: expect.stringMatching(/127\.0\.0\.1 \(loopback\)/) });
    expect(receiver.requests).toHaveLength(0);
    expect(lookups).toBe(2);
  });

  it('refuses an IPv4-mapped or NAT64 loopback answer at delivery, whatever its spelling', async () => {
    for (const answer of ['::ffff:7f00:1', '0:0:0:0:0:ffff:127.0.0.1', '64:ff9b::7f00:1', 'fd00::1']) {
      const posts: PinnedPost[] = [];
      const sender = new WebhookSender({ secret: SECRET, logger: silentLogger, resolveHost: async () => ['2606:4700::1', answer], transport: async (post) => (posts.push(post), 200) });
      expect((await sender.send('https://hooks.example/hook', event)).refused, answer).toBeDefined();
      expect(posts).toHaveLength(0);
    }
  });

  it('connects to the address that was checked, keeping the host name for Host and SNI, and checks again on each try', async () => {
    const answers = [['93.184.216.34'], ['2606:2800:220:1::1'], ['10.0.0.8']];
    let lookups = 0;
    const posts: PinnedPost[] = [];
    const sender = new WebhookSender({
      secret: SECRET,
      logger: silentLogger,
      initialDelayMs: 10,
      resolveHost: async () => answers[Math.min(lookups++, answers.length - 1)],
      transport: async (post) => (posts.push(post), 503),
    });
    const outcome = await sender.send('https://hooks.example/hook', event);
    expect(posts.map((post) => post.address)).toEqual([{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1::1', family: 6 }]);
    expect(posts.every((post) => post.url.hostname === 'hooks.example')).toBe(true);
    expect(outcome).toMatchObject({ delivered: false, attempts: 3, refused: expect.stringMatching(/10\.0\.0\.8 \(private\)/) });
  });

  it('really sends to the pinned address: a name no DNS knows reaches the loopback receiver it was checked as', async () => {
    receiver = await startReceiver([200]);
    const port = new URL(receiver.url).port;
    const resolved: string[] = [];
    const sender = new WebhookSender({
      secret: SECRET,
      logger: silentLogger,
      allowPrivate: true, // a loopback receiver is only reachable in development mode
      resolveHost: async (host) => (resolved.push(host), ['127.0.0.1']),
    });
    expect(await sender.send(`http://hooks.invalid:${port}/hooks`, event)).toEqual({ delivered: true, attempts: 1, lastStatus: 200 });
    expect(resolved).toEqual(['hooks.invalid']);
    expect(receiver.requests[0].headers.host).toBe(`hooks.invalid:${port}`);
  });
});

describe('postPinned over https', () => {
  it('sends the TLS ClientHello to the pinned address with the host name as SNI', async () => {
    const hellos: Buffer[] = [];
    // A plain TCP listener: the ClientHello is readable before any certificate is involved.
    const tcp = createTcpServer((socket) => socket.once('data', (chunk) => (hellos.push(chunk), socket.destroy())));
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    try {
      const port = (tcp.address() as AddressInfo).port;
      const sender = new WebhookSender({ secret: SECRET, logger: silentLogger, allowPrivate: true, maxAttempts: 1, resolveHost: async () => ['127.0.0.1'] });
      expect(await sender.send(`https://hooks.invalid:${port}/hooks`, event)).toMatchObject({ delivered: false, attempts: 1 });
      expect(hellos).toHaveLength(1);
      expect(hellos[0][0]).toBe(0x16); // a TLS handshake record
      expect(hellos[0].includes(Buffer.from('hooks.invalid'))).toBe(true);
    } finally {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    }
  });
});

describe('backoffDelayMs', () => {
  it.each([
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [7, 60_000], // capped
  ])('try %i waits %i ms without jitter', (attempt, expected) => {
    expect(backoffDelayMs(attempt, 1000, 60_000, () => 0)).toBe(expected);
  });

  it('takes at most 20 % off for jitter', () => {
    expect(backoffDelayMs(2, 1000, 60_000, () => 1)).toBe(1600);
  });
});

describe('isRetryableStatus', () => {
  it.each([
    [408, true],
    [429, true],
    [500, true],
    [503, true],
    [400, false],
    [401, false],
    [404, false],
    [410, false],
  ])('%i -> %s', (status, expected) => {
    expect(isRetryableStatus(status)).toBe(expected);
  });
});

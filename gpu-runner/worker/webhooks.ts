/**
 * Webhook delivery with Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
 *
 * Deliveries run in the background: `send` returns at once, so a slow or failing receiver never holds up the next
 * job. Each event is tried a bounded number of times with exponential backoff; the `webhook-id` stays the same
 * across tries (receivers deduplicate on it) while the timestamp and signature are made fresh for each try.
 *
 * Every try checks the URL again where it is sent: the host is resolved, every address must be public
 * (shared/webhook-url.ts), and the request connects to an address that passed (webhook-transport.ts). A URL
 * whose host now resolves to an internal address is refused and not retried.
 */
import { Webhook } from 'standardwebhooks';
import { resolveHostWithDns, resolveWebhookTarget, type ResolveHost } from '../../shared/webhook-url.ts';
import { describeError, type Logger } from './logger.ts';
import { postPinned, type WebhookTransport } from './webhook-transport.ts';

/** The events a job emits over its life. */
export const WEBHOOK_EVENT_TYPES = ['edit.started', 'edit.succeeded', 'edit.failed', 'edit.canceled'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface WebhookEvent {
  type: WebhookEventType;
  jobId: string;
  /** The job as the receiver should see it (state, outputs, error ...). */
  data: Record<string, unknown>;
}

export interface WebhookSenderOptions {
  /** The signing secret, `whsec_` + base64. Without it nothing is sent (an unsigned webhook cannot be trusted). */
  secret: string | undefined;
  logger: Logger;
  /** Tries per event, the first included. @default 5 */
  maxAttempts?: number;
  /** Wait before the second try; doubles for each further try. @default 1000 */
  initialDelayMs?: number;
  /** Upper bound of one wait. @default 60000 */
  maxDelayMs?: number;
  /** Per-request timeout. @default 10000 */
  timeoutMs?: number;
  /** DNS lookup of a webhook host, at each try. @default resolveHostWithDns */
  resolveHost?: ResolveHost;
  /** Development only: deliver over http and to internal addresses. @default false */
  allowPrivate?: boolean;
  /** @default postPinned */
  transport?: WebhookTransport;
}

/** How one event's delivery ended. */
export interface DeliveryOutcome {
  delivered: boolean;
  attempts: number;
  /** HTTP status of the last try, when there was a response. */
  lastStatus?: number;
  /** Why the URL was refused at delivery (an internal address, a URL that is not allowed). */
  refused?: string;
}

export class WebhookSender {
  private readonly signer: Webhook | undefined;
  private readonly maxAttempts: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly resolveHost: ResolveHost;
  private readonly transport: WebhookTransport;
  private readonly inFlight = new Set<Promise<DeliveryOutcome>>();
  /** Aborted by `drain` when its time is up, which ends waits and requests still running. */
  private readonly shutdown = new AbortController();

  constructor(private readonly options: WebhookSenderOptions) {
    this.signer = options.secret ? new Webhook(options.secret) : undefined;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.initialDelayMs = options.initialDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.resolveHost = options.resolveHost ?? resolveHostWithDns;
    this.transport = options.transport ?? postPinned;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new Error(`WebhookSender: maxAttempts must be an integer >= 1, got ${this.maxAttempts}.`);
    }
  }

  /** Start delivering `event` to `url` in the background. Returns the delivery's promise (never rejects). */
  send(url: string, event: WebhookEvent): Promise<DeliveryOutcome> {
    const delivery = this.deliver(url, event);
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
    return delivery;
  }

  /** Deliveries still running. */
  get pending(): number {
    return this.inFlight.size;
  }

  /**
   * Wait for running deliveries, at most `timeoutMs`; then abandon the rest (they are logged as given up).
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), timeUp]);
    clearTimeout(timer);
    this.shutdown.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private async deliver(url: string, event: WebhookEvent): Promise<DeliveryOutcome> {
    const log = this.options.logger.child({ jobId: event.jobId, webhookEvent: event.type });
    if (!this.signer) {
      log.warn('webhook not sent: no signing secret is configured (set OCD_WEBHOOK_SECRET to a whsec_ secret)');
      return { delivered: false, attempts: 0 };
    }
    // Stable across tries and across redelivered runs of the same job, so receivers can deduplicate.
    const messageId = `msg_${event.jobId}_${event.type.replace('.', '_')}`;
    let lastStatus: number | undefined;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (this.shutdown.signal.aborted) break;
      const now = new Date();
      const body = JSON.stringify({ type: event.type, timestamp: now.toISOString(), data: { id: event.jobId, ...event.data } });
      try {
        const target = await resolveWebhookTarget(url, { resolveHost: this.resolveHost, allowPrivate: this.options.allowPrivate ?? false });
        if ('problem' in target) {
          if (!target.unresolved) {
            log.warn('webhook refused at delivery; not sending', { attempt, reason: target.problem });
            return { delivered: false, attempts: attempt, refused: target.problem };
          }
          throw new Error(target.problem);
        }
        const status = await this.transport({
          url: target.url,
          address: target.addresses[0],
          headers: {
            'content-type': 'application/json',
            'webhook-id': messageId,
            'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
            'webhook-signature': this.signer.sign(messageId, now, body),
          },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.shutdown.signal]),
        });
        lastStatus = status;
        if (status >= 200 && status < 300) {
          log.info('webhook delivered', { attempt, status });
          return { delivered: true, attempts: attempt, lastStatus };
        }
        if (!isRetryableStatus(status)) {
          log.warn('webhook rejected by the receiver; not retrying', { attempt, status });
          return { delivered: false, attempts: attempt, lastStatus };
        }
        log.warn('webhook attempt failed', { attempt, status });
      } catch (error) {
        log.warn('webhook attempt failed', { attempt, error: describeError(error) });
      }
      if (attempt < this.maxAttempts) await this.wait(backoffDelayMs(attempt, this.initialDelayMs, this.maxDelayMs));
    }
    log.error('webhook given up', { attempts: this.maxAttempts, lastStatus });
    return { delivered: false, attempts: this.maxAttempts, lastStatus };
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.shutdown.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}

/** 408, 429 and 5xx may pass on a later try; any other 4xx is the receiver saying no. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * The wait after failed try number `attempt` (1-based): `initialDelayMs * 2^(attempt-1)`, capped at `maxDelayMs`,
 * with up to 20 % jitter taken off so that many workers do not retry in lockstep.
 */
export function backoffDelayMs(attempt: number, initialDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
  return Math.round(exponential * (1 - 0.2 * random()));
}

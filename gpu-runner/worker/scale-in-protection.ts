/**
 * ECS task scale-in protection: while a job runs, the service's scale-in (queue empty, so desired count drops)
 * must not stop this task. The ECS agent exposes `PUT ${ECS_AGENT_URI}/task-protection/v1/state`.
 * Without an agent endpoint (local runs, tests) protection is a no-op.
 */
import { describeError, type Logger } from './logger.ts';

export interface ScaleInProtection {
  /** Protect the task (busy) or release it (idle). Failures are logged, never thrown: a job must not fail for it. */
  set(enabled: boolean): Promise<void>;
}

export interface EcsScaleInProtectionOptions {
  /** The `ECS_AGENT_URI` the agent injects; undefined turns protection into a no-op. */
  agentUri: string | undefined;
  logger: Logger;
  /** How long protection lasts if this task dies without releasing it (1..2880). @default 120 */
  expiresInMinutes?: number;
  /** @default 5000 */
  timeoutMs?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * Create the protection switch. Repeated calls with the same value are skipped, so calling `set(true)` per job
 * and `set(false)` only when the queue comes back empty costs one request per change.
 */
export function createScaleInProtection(options: EcsScaleInProtectionOptions): ScaleInProtection {
  const { agentUri, logger } = options;
  if (!agentUri) return { set: async () => {} };
  const expiresInMinutes = options.expiresInMinutes ?? 120;
  if (!Number.isInteger(expiresInMinutes) || expiresInMinutes < 1 || expiresInMinutes > 2880) {
    throw new Error(`Scale-in protection: expiresInMinutes must be an integer in 1..2880 (ECS limit), got ${expiresInMinutes}.`);
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const endpoint = `${agentUri.replace(/\/$/, '')}/task-protection/v1/state`;
  let current: boolean | undefined;
  return {
    async set(enabled) {
      if (current === enabled) return;
      try {
        const response = await fetchImpl(endpoint, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(enabled ? { ProtectionEnabled: true, ExpiresInMinutes: expiresInMinutes } : { ProtectionEnabled: false }),
          signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
        });
        await response.body?.cancel();
        if (!response.ok) throw new Error(`ECS agent answered HTTP ${response.status}`);
        current = enabled;
        logger.debug('scale-in protection set', { enabled });
      } catch (error) {
        // Unknown state now: the next call must send again.
        current = undefined;
        logger.warn('could not set scale-in protection', { enabled, error: describeError(error) });
      }
    },
  };
}

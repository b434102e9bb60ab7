/**
 * Engine failures that carry a stable job error code (shared/errors.ts), so the runner can record them as is.
 */
import type { JobErrorCode } from '../../shared/errors.ts';

/** An error with a stable job error code. */
export class EngineError extends Error {
  readonly code: JobErrorCode;

  constructor(code: JobErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** Throws `canceled` when the signal fired; called between UNet steps. */
export function throwIfCanceled(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new EngineError('canceled', `The edit was canceled during ${where}.`, { cause: signal.reason });
}

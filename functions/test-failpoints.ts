/**
 * Crash points for the crash-recovery tests, and nothing else: when the environment variable
 * `OCD_TEST_ONLY_KILL_AT` names a point, the process kills itself with SIGKILL on reaching it, as a crashed
 * host would. Unset (always, outside those tests) every call is a no-op. Lambda never honours it.
 */

/** The places a test may crash the API at. */
export type Failpoint = 'after-idempotency-reservation' | 'after-job-write';

export function failpoint(point: Failpoint): void {
  const wanted = process.env.OCD_TEST_ONLY_KILL_AT;
  if (wanted === undefined || wanted !== point || process.env.AWS_LAMBDA_FUNCTION_NAME) return;
  process.kill(process.pid, 'SIGKILL');
}

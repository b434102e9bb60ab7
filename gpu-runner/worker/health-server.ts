/**
 * The container health check: `GET /healthz` answers 200 only once the model is loaded and sessions are warm,
 * 503 before (and after a failed load), so the orchestrator does not count a cold worker as serving.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type WorkerPhase = 'loading' | 'ready' | 'draining' | 'failed';

export interface HealthServer {
  setPhase(phase: WorkerPhase, detail?: string): void;
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Listen on `port` (0 = any free port) on `host`.
 * @param host @default '0.0.0.0' (the container health check comes from outside the process namespace)
 */
export async function startHealthServer(port: number, host = '0.0.0.0'): Promise<HealthServer> {
  let phase: WorkerPhase = 'loading';
  let detail: string | undefined;
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/healthz') {
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found; try GET /healthz' }));
      return;
    }
    // Draining still serves its current job, so it stays healthy until it exits.
    const healthy = phase === 'ready' || phase === 'draining';
    response
      .writeHead(healthy ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      .end(JSON.stringify({ status: phase, ...(detail ? { detail } : {}) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    setPhase(next, nextDetail) {
      phase = next;
      detail = nextDetail;
    },
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

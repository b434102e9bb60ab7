/**
 * Worker processes for tests: spawned with tsx, their JSON log lines collected, always killed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../support/paths.ts';

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Parsed JSON lines from stdout (logs and metrics records). */
  lines: Record<string, unknown>[];
  stderr: string[];
  /** Resolves once the process has exited and its stdout and stderr are fully read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<ChildProcess>();
const TSX_LOADER = 'tsx';

/**
 * Spawn `entry` (relative to the repo root) with `env` added to this process's environment.
 */
export function spawnWorker(entry: string, args: string[], env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, join(REPO_ROOT, entry), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) {
      if (!part.trim()) continue;
      try {
        lines.push(JSON.parse(part) as Record<string, unknown>);
      } catch {
        stderr.push(`(stdout) ${part}`);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close' rather than 'exit': it comes after stdout is drained, so `lines` is complete once this resolves.
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, pid: child.pid!, lines, stderr, exited };
}

/** SIGKILL every worker still alive (afterAll). */
export async function killAllWorkers(): Promise<void> {
  const waits = [...live].map((child) => new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  }));
  await Promise.all(waits);
}

/** The first log line matching `predicate`, waiting up to `timeoutMs`. */
export async function waitForLine(worker: WorkerProcess, predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = worker.lines.find(predicate);
    if (line) return line;
    if (worker.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no matching log line within ${timeoutMs} ms; stderr: ${worker.stderr.join('').slice(-2000)}`);
}

/**
 * Runs ffmpeg/ffprobe as child processes: argument arrays (no shell), stdout streamed to the caller, stdin fed with
 * backpressure, and a hard time limit after which the process is killed. Every other module in video/ goes
 * through `runTool`, so no child process can outlive its budget or hang a job.
 */
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import type { Writable } from 'node:stream';

import { VideoToolError } from './errors.ts';

export const DEFAULT_TOOL_TIMEOUT_MS = 120_000;

/** Where the binaries are and how long one call may take. Callers fill this from config (`OCD_FFMPEG`, ...). */
export interface VideoToolOptions {
  /** @default 'ffmpeg' (looked up on PATH) */
  readonly ffmpegPath?: string;
  /** @default 'ffprobe' (looked up on PATH) */
  readonly ffprobePath?: string;
  /** Wall-clock limit of each ffmpeg/ffprobe process, in milliseconds. @default 120000 */
  readonly timeoutMs?: number;
  /** Aborting kills the running process; the call then rejects with `signal.reason`. @default - not abortable */
  readonly signal?: AbortSignal;
}

/** The per-process limits of `options` with defaults filled in, for `runTool`. */
export function processLimits(options: VideoToolOptions): { timeoutMs: number; signal?: AbortSignal } {
  return { timeoutMs: options.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS, signal: options.signal };
}

/** Only the end of stderr is kept: ffmpeg's last lines name the failure, and a corrupt file can print megabytes. */
const STDERR_TAIL_CHARS = 4000;

export interface ToolRunOptions {
  readonly timeoutMs: number;
  /** Aborting kills the process and rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
  /** Chunks written to stdin in order (with backpressure); stdin is closed after the last one. */
  readonly stdin?: Iterable<Uint8Array>;
  /** Receives each stdout chunk. Without it, stdout is collected into `ToolRunResult.stdout`. May throw to abort. */
  readonly onStdout?: (chunk: Buffer) => void;
}

export interface ToolRunResult {
  /** The exit status; null when the process died from a signal. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Collected stdout (empty when `onStdout` consumed it). */
  readonly stdout: Buffer;
  /** The last few thousand characters of stderr. */
  readonly stderrTail: string;
}

/**
 * Runs `command args...` to completion. A non-zero exit status resolves (the caller decides what it means for
 * the input); a missing binary, a timeout or an `onStdout` exception rejects.
 * @throws VideoToolError `tool_missing` when the binary cannot be started, `tool_timeout` when it ran past
 *   `timeoutMs` (it is killed with SIGKILL first), `tool_failed` for other spawn errors.
 * @throws `signal.reason` when `signal` aborts (the process is killed first).
 * @example const { stdout } = await runTool('ffprobe', ['-version'], { timeoutMs: 5000 });
 */
export function runTool(command: string, args: readonly string[], options: ToolRunOptions): Promise<ToolRunResult> {
  const { timeoutMs } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}.`);
  }
  if (options.signal?.aborted) return Promise.reject(abortReason(options.signal));
  return new Promise<ToolRunResult>((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'pipe', shell: false });
    const stdoutChunks: Buffer[] = [];
    let stderrTail = '';
    let failure: Error | undefined;
    let settled = false;

    const fail = (error: Error): void => {
      failure ??= error;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      fail(
        new VideoToolError(
          'tool_timeout',
          `${basename(command)} did not finish within ${timeoutMs} ms and was killed (args: ${summarizeArgs(args)}). ` +
            'Raise timeoutMs if the input is legitimately large.',
        ),
      );
    }, timeoutMs);
    const abortSignal = options.signal;
    const onAbort = (): void => fail(abortReason(abortSignal as AbortSignal));
    abortSignal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      if (failure) return;
      if (!options.onStdout) {
        stdoutChunks.push(chunk);
        return;
      }
      try {
        options.onStdout(chunk);
      } catch (error) {
        fail(error instanceof Error ? error : new Error(String(error)));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      const missing = error.code === 'ENOENT' || error.code === 'EACCES';
      failure ??= new VideoToolError(
        missing ? 'tool_missing' : 'tool_failed',
        missing
          ? `Cannot run ${command} (${error.code}). Install ffmpeg or point OCD_FFMPEG/OCD_FFPROBE at the binaries.`
          : `${command} failed to start: ${error.message}`,
        { cause: error },
      );
      finish(null, null);
    });
    child.on('close', (exitCode, signal) => finish(exitCode, signal));

    function finish(exitCode: number | null, signal: NodeJS.Signals | null): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      abortSignal?.removeEventListener('abort', onAbort);
      if (failure) reject(failure);
      else resolve({ exitCode, signal, stdout: Buffer.concat(stdoutChunks), stderrTail });
    }

    void feedStdin(child.stdin, options.stdin ?? []);
  });
}

/** Writes chunks with backpressure; a child that exits early (EPIPE) just ends the feed, its exit status tells why. */
async function feedStdin(stdin: Writable, chunks: Iterable<Uint8Array>): Promise<void> {
  let broken = false;
  stdin.on('error', () => {
    broken = true;
  });
  for (const chunk of chunks) {
    if (broken || stdin.destroyed) return;
    if (!stdin.write(chunk)) {
      await new Promise<void>((resume) => {
        const done = (): void => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resume();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
    }
  }
  if (!broken && !stdin.destroyed) stdin.end();
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : Object.assign(new Error('The operation was aborted.'), { name: 'AbortError', cause: signal.reason });
}

/** Short form of an argument list for error messages (paths and filters can be long). */
function summarizeArgs(args: readonly string[]): string {
  const text = args.join(' ');
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

/** The last non-empty line of a stderr tail, the line ffmpeg uses to name a failure. */
export function lastLine(stderrTail: string): string {
  const lines = stderrTail.split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
  return lines.at(-1) ?? '(no message)';
}

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { decodeVideo } from '../../../gpu-runner/video/decode.ts';
import { probeVideo } from '../../../gpu-runner/video/probe.ts';
import { runTool } from '../../../gpu-runner/video/tools.ts';
import { CLIPS_DIR } from '../../support/paths.ts';
import { expectToolError } from './support.ts';

const execFileAsync = promisify(execFile);

describe('runTool', () => {
  it('kills a process that runs past its time limit and reports tool_timeout', async () => {
    // An endless test source with an unusual size, so the process can be found in the process table.
    const marker = 'testsrc2=s=34x18';
    const started = Date.now();
    const error = await expectToolError(runTool('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', marker, '-f', 'null', '-'], { timeoutMs: 400 }), 'tool_timeout');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error.message).toMatch(/within 400 ms and was killed/);
    const { stdout } = await execFileAsync('ps', ['-eo', 'args']);
    expect(stdout).not.toContain(marker);
  });

  it('reports a missing binary as tool_missing', async () => {
    await expectToolError(runTool('ocd-no-such-ffmpeg', ['-version'], { timeoutMs: 5000 }), 'tool_missing');
  });

  it('resolves with the exit status and stderr tail of a failing run', async () => {
    const result = await runTool('ffprobe', ['-v', 'error', 'ocd-no-such-input.mp4'], { timeoutMs: 5000 });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderrTail).toMatch(/No such file/);
  });

  it('feeds stdin and collects stdout', async () => {
    // ffmpeg copies 4 raw grey bytes through a null filter.
    const result = await runTool('ffmpeg', ['-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', '2x2', '-i', 'pipe:0', '-f', 'rawvideo', 'pipe:1'], {
      timeoutMs: 10_000,
      stdin: [Uint8Array.of(1, 2, 3, 4)],
    });
    expect(result.exitCode).toBe(0);
    expect(Array.from(result.stdout)).toEqual([1, 2, 3, 4]);
  });

  it('kills the process when the signal aborts and rejects with its reason', async () => {
    const controller = new AbortController();
    const reason = new Error('job canceled');
    setTimeout(() => controller.abort(reason), 200);
    const started = Date.now();
    await expect(runTool('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=s=30x22', '-f', 'null', '-'], { timeoutMs: 30_000, signal: controller.signal })).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(5000);
    const { stdout } = await execFileAsync('ps', ['-eo', 'args']);
    expect(stdout).not.toContain('testsrc2=s=30x22');
  });

  it('does not start a process for an already aborted signal', async () => {
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await expect(runTool('ocd-no-such-ffmpeg', [], { timeoutMs: 1000, signal: controller.signal })).rejects.toThrow('too late');
  });

  it('fails fast on a non-positive time limit', () => {
    expect(() => runTool('ffmpeg', [], { timeoutMs: 0 })).toThrow(/positive number of milliseconds/);
  });
});

describe('tool options reach the video functions', () => {
  it('decodeVideo gives up with tool_timeout under a 1 ms limit', async () => {
    await expectToolError(decodeVideo(`${CLIPS_DIR}/blackswan.mp4`, { maxFrames: 8, size: 64, timeoutMs: 1 }), 'tool_timeout');
  });

  it('probeVideo uses the given ffprobe path', async () => {
    await expectToolError(probeVideo(`${CLIPS_DIR}/blackswan.mp4`, { ffprobePath: 'ocd-no-such-ffprobe' }), 'tool_missing');
  });
});

/**
 * Errors of the video layer. Two families, because the job layer treats them differently:
 * - `VideoInputError`: the caller's file is at fault (unreadable, too long, ...). The code is a stable string that
 *   the API and job records show as is, so never rename one.
 * - `VideoToolError`: ffmpeg/ffprobe itself failed (missing binary, timeout, crash on our own output). That is
 *   our fault or the machine's, so the job layer reports it as an internal error.
 */

import { INPUT_ERROR_CODES, type InputErrorCode } from '../../shared/errors.ts';

/** Every stable code a `VideoInputError` can carry: the contract's input error codes. */
export const VIDEO_ERROR_CODES = INPUT_ERROR_CODES;
export type VideoErrorCode = InputErrorCode;

/** The caller's video (or mask video) cannot be used; `code` says why in a stable, machine-readable way. */
export class VideoInputError extends Error {
  override readonly name = 'VideoInputError';

  constructor(
    readonly code: VideoErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Every code a `VideoToolError` can carry. */
export const VIDEO_TOOL_ERROR_CODES = ['tool_missing', 'tool_timeout', 'tool_failed'] as const;

export type VideoToolErrorCode = (typeof VIDEO_TOOL_ERROR_CODES)[number];

/** ffmpeg or ffprobe could not do its job for a reason that is not the input's fault. */
export class VideoToolError extends Error {
  override readonly name = 'VideoToolError';

  constructor(
    readonly code: VideoToolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True when `value` is one of `VIDEO_ERROR_CODES`. */
export function isVideoErrorCode(value: unknown): value is VideoErrorCode {
  return typeof value === 'string' && (VIDEO_ERROR_CODES as readonly string[]).includes(value);
}

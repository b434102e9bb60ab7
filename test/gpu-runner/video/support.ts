/** Helpers shared by the video suites. */
import { expect } from 'vitest';

import { VideoInputError, VideoToolError, type VideoErrorCode, type VideoToolErrorCode } from '../../../gpu-runner/video/errors.ts';

/** Awaits `promise` and checks that it rejects with a VideoInputError carrying one of `codes`. */
export async function expectInputError(promise: Promise<unknown>, ...codes: VideoErrorCode[]): Promise<VideoInputError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error, `expected a VideoInputError ${codes.join(' or ')}`).toBeInstanceOf(VideoInputError);
  expect(codes).toContain((error as VideoInputError).code);
  return error as VideoInputError;
}

/** Awaits `promise` and checks that it rejects with a VideoToolError of `code`. */
export async function expectToolError(promise: Promise<unknown>, code: VideoToolErrorCode): Promise<VideoToolError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(VideoToolError);
  expect((error as VideoToolError).code).toBe(code);
  return error as VideoToolError;
}

/** Mean of one RGB channel over a rectangle of an RGB24 frame. */
export function regionMean(frame: Uint8Array, width: number, x0: number, y0: number, x1: number, y1: number, channel = 0): number {
  let sum = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += frame[(y * width + x) * 3 + channel];
  return sum / ((x1 - x0) * (y1 - y0));
}

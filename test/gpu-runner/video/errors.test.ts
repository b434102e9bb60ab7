import { describe, expect, it } from 'vitest';

import { isVideoErrorCode, VIDEO_ERROR_CODES, VideoInputError } from '../../../gpu-runner/video/errors.ts';
import { JOB_ERROR_CODES } from '../../../shared/errors.ts';

describe('video error codes', () => {
  it('are the stable input codes, in order', () => {
    expect(VIDEO_ERROR_CODES).toEqual(['input_empty', 'input_unreadable', 'input_truncated', 'input_too_short', 'input_too_long', 'input_too_large', 'mask_unreadable', 'mask_mismatch', 'control_unreadable', 'control_frame_count', 'control_size']);
  });

  it('are all job error codes, so a job can record them as they are', () => {
    for (const code of VIDEO_ERROR_CODES) expect(JOB_ERROR_CODES).toContain(code);
  });

  it('are recognised by isVideoErrorCode, and nothing else is', () => {
    expect(VIDEO_ERROR_CODES.every(isVideoErrorCode)).toBe(true);
    expect(isVideoErrorCode('internal')).toBe(false);
    expect(isVideoErrorCode(undefined)).toBe(false);
  });

  it('travel on VideoInputError with the message and cause', () => {
    const cause = new Error('inner');
    const error = new VideoInputError('input_too_long', 'too long', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'VideoInputError', code: 'input_too_long', message: 'too long', cause });
  });
});

/** One list of supported containers: the API's content types, the playground and the README all say the same. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UPLOAD_CONTENT_TYPES } from '../../shared/api.ts';
import { containerContentType, containerNames, VIDEO_CONTAINERS } from '../../shared/containers.ts';
import { REPO_ROOT } from '../support/paths.ts';

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');

describe('supported containers', () => {
  it('reads as one sentence and maps file names to content types', () => {
    expect(containerNames()).toBe('MP4, MOV, WebM or MKV');
    expect(containerContentType('Clip.MOV')).toBe('video/quicktime');
    expect(containerContentType('clip.avi')).toBeUndefined();
  });

  it('is what the API accepts', () => {
    expect([...UPLOAD_CONTENT_TYPES]).toEqual(VIDEO_CONTAINERS.map((c) => c.contentType));
  });

  it('is what the playground and the README say', () => {
    const page = read('functions/public/index.html');
    expect(page).toContain(`Video (${containerNames()})`);
    const accept = VIDEO_CONTAINERS.flatMap((c) => c.extensions).join(',');
    // the video, the mask video and the control video inputs
    expect(page.match(/accept="([^"]+)"/g)).toEqual(Array(3).fill(`accept="${accept}"`));
    expect(read('README.md')).toContain(`Inputs: ${containerNames()} up to`);
  });
});

import { openSync, readSync, closeSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIPS_DIR } from '../../gpu-runner/assets.ts';
import { CONTAINER_SNIFF_BYTES, describeLeadingBytes, sniffVideoContainer } from '../../shared/video-container.ts';

function leadingBytes(path: string): Uint8Array {
  const bytes = new Uint8Array(CONTAINER_SNIFF_BYTES);
  const fd = openSync(path, 'r');
  try {
    return bytes.subarray(0, readSync(fd, bytes, 0, bytes.length, 0));
  } finally {
    closeSync(fd);
  }
}

describe('sniffVideoContainer', () => {
  const clips = readdirSync(CLIPS_DIR).filter((name) => name.endsWith('.mp4'));

  it.each(clips)('reads the repository clip %s as ISO BMFF', (name) => {
    expect(sniffVideoContainer(leadingBytes(join(CLIPS_DIR, name)))).toBe('iso-bmff');
  });

  it.each<[string, number[], string | undefined]>([
    ['WebM/Matroska EBML magic', [0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81], 'matroska'],
    ['an old QuickTime file starting with its movie box', [0, 0, 0x10, 0, 0x6d, 0x6f, 0x6f, 0x76], 'iso-bmff'],
    ['an `ftyp` box with an impossible size', [0, 0, 0, 4, 0x66, 0x74, 0x79, 0x70], undefined],
    ['a PNG image', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], undefined],
    ['an AVI file (not a container we accept)', [0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x41, 0x56, 0x49, 0x20], undefined],
    ['too few bytes', [0, 0, 0], undefined],
  ])('%s', (_name, bytes, container) => {
    expect(sniffVideoContainer(new Uint8Array(bytes))).toBe(container);
  });

  it('shows what it found as hex', () => {
    expect(describeLeadingBytes(new TextEncoder().encode('%PDF-1.7'))).toBe('25 50 44 46 2d 31 2e 37');
    expect(describeLeadingBytes(new Uint8Array())).toBe('(none)');
  });
});

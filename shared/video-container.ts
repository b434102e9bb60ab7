/**
 * Which video container a file is, from its first bytes: enough for the API to refuse an upload that is not a
 * video at create time, from a ranged read of a few bytes, before any job exists. The runner still decodes it
 * with ffprobe; this only catches what is plainly something else (an image, a PDF, HTML, random bytes).
 */

/** The containers the upload content types (shared/api.ts) name: MP4/MOV share ISO BMFF, WebM is Matroska. */
export type VideoContainer = 'iso-bmff' | 'matroska';

/** How many leading bytes `sniffVideoContainer` needs. */
export const CONTAINER_SNIFF_BYTES = 16;

// Top-level boxes an MP4 or QuickTime file starts with: `ftyp` normally; old QuickTime files start with a movie,
// media data, or padding box.
const ISO_BMFF_FIRST_BOXES = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot', 'uuid']);
const EBML_MAGIC = [0x1a, 0x45, 0xdf, 0xa3];

/**
 * The container of a file from its first bytes, or undefined when they are not a container we read.
 * @example sniffVideoContainer(new Uint8Array([0, 0, 0, 24, 0x66, 0x74, 0x79, 0x70, ...])) // 'iso-bmff'
 */
export function sniffVideoContainer(start: Uint8Array): VideoContainer | undefined {
  if (EBML_MAGIC.every((byte, i) => start[i] === byte)) return 'matroska';
  if (start.length < 8) return undefined;
  const size = ((start[0] << 24) | (start[1] << 16) | (start[2] << 8) | start[3]) >>> 0;
  const type = String.fromCharCode(...start.subarray(4, 8));
  // A box size is 0 (to the end), 1 (a 64-bit size follows) or at least its own 8-byte header.
  const plausibleSize = size === 0 || size === 1 || size >= 8;
  return plausibleSize && ISO_BMFF_FIRST_BOXES.has(type) ? 'iso-bmff' : undefined;
}

/** The first bytes as hex, for an error message that shows what was found instead. */
export function describeLeadingBytes(start: Uint8Array): string {
  return [...start.subarray(0, 8)].map((byte) => byte.toString(16).padStart(2, '0')).join(' ') || '(none)';
}

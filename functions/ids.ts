/**
 * ULIDs: 48 bits of milliseconds then 80 random bits, in Crockford base32. They sort by creation time,
 * which the job listing and the queue position rely on.
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function encodeTime(ms: number): string {
  let out = '';
  let rest = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

function encodeRandom(): string {
  const bytes = randomBytes(16);
  let out = '';
  for (let i = 0; i < 16; i++) out += ALPHABET[bytes[i] % 32];
  return out;
}

/**
 * A ULID generator over a clock.
 *
 * @example const newId = createIdGenerator(() => new Date()); newId() // '01JD...'
 */
export function createIdGenerator(clock: () => Date = () => new Date()): () => string {
  return () => encodeTime(clock().getTime()) + encodeRandom();
}

/**
 * GPT-2/CLIP byte-level BPE works on symbols, not raw bytes: every byte maps to one printable character so that
 * merges.txt and vocab.json stay readable. The printable bytes `!`..`~`, `¡`..`¬`, `®`..`ÿ` map to themselves;
 * the other 68 bytes map to U+0100 + n in byte order.
 */

function buildByteSymbols(): string[] {
  const printable: number[] = [];
  for (const [from, to] of [[0x21, 0x7e], [0xa1, 0xac], [0xae, 0xff]]) for (let b = from; b <= to; b++) printable.push(b);
  const symbols = new Array<string>(256);
  for (const b of printable) symbols[b] = String.fromCharCode(b);
  let next = 0;
  for (let b = 0; b < 256; b++) if (symbols[b] === undefined) symbols[b] = String.fromCharCode(256 + next++);
  return symbols;
}

/** BYTE_SYMBOLS[b] = the character that stands for byte b. */
export const BYTE_SYMBOLS: readonly string[] = buildByteSymbols();

/**
 * The 256 symbols in CLIP's vocabulary order (ids 0..255): the printable bytes first, then the remapped ones,
 * which is the order in which the table above is built.
 */
export const BYTE_SYMBOLS_IN_VOCAB_ORDER: readonly string[] = [...BYTE_SYMBOLS].sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));

const SYMBOL_TO_BYTE = new Map(BYTE_SYMBOLS.map((symbol, byte) => [symbol, byte]));
const utf8 = new TextEncoder();

/** The symbols of a string's UTF-8 bytes. */
export function toByteSymbols(text: string): string {
  let out = '';
  for (const byte of utf8.encode(text)) out += BYTE_SYMBOLS[byte];
  return out;
}

/** The bytes a string of symbols stands for. @throws on a character that is not a byte symbol. */
export function fromByteSymbols(symbols: string): Uint8Array {
  const bytes = new Uint8Array(symbols.length);
  for (let i = 0; i < symbols.length; i++) {
    const byte = SYMBOL_TO_BYTE.get(symbols[i]);
    if (byte === undefined) throw new Error(`'${symbols[i]}' (U+${symbols.charCodeAt(i).toString(16)}) in '${symbols}' is not a byte symbol.`);
    bytes[i] = byte;
  }
  return bytes;
}

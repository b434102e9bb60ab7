/**
 * What a prompt's words are, for everyone who needs them: the API's checks of word-based knobs (word swap, blend
 * and reweighted words) and the engine's CLIP tokenizer read them from here, so both count and match the same
 * words.
 *
 * Text cleanup before CLIP tokenization, as transformers' CLIPTokenizer does it with ftfy installed (what SD
 * pipelines run): `ftfy.fix_text`, then runs of whitespace → one space, strip, lowercase.
 *
 * ftfy is reimplemented only as far as prompts need it. Done: HTML entities (only while no '<' has been seen,
 * ftfy's "auto"; common named entities plus numeric ones), UTF-8 read as Windows-1252/Latin-1 ("cafÃ©" → "café",
 * for well-formed multi-byte sequences), C1 controls read as Windows-1252, Latin ligatures, full-width and
 * half-width forms (NFKC of U+FF01..U+FFEF, U+3000 → space), curly quotes → straight, line breaks, terminal escapes,
 * ftfy's control-character removal, NFC. Each line is fixed repeatedly until nothing changes, as ftfy does.
 * Not done: ftfy's badness scoring (it also fixes mojibake through other code pages and lossy sequences).
 */

const SPACE_RUNS = /\p{White_Space}+/gu;
/** CLIP's literal special tokens: transformers splits them out before cleanup, so they are kept as written. */
export const CLIP_SPECIAL_TOKEN_SPLIT = /(<\|startoftext\|>|<\|endoftext\|>)/;
const SPECIAL_TOKENS = new Set(['<|startoftext|>', '<|endoftext|>']);
// Letters, digits, punctuation and symbols (emoji included); marks alone, format characters (zero-width
// space and joiners), controls, private-use and unassigned code points draw nothing.
const VISIBLE = /[\p{L}\p{N}\p{P}\p{S}]/u;

/**
 * The prompt's words as the engine sees them: the cleaned prompt split on spaces, special tokens kept as written.
 * @example promptWords('  A  Red\tTiger, walking') // ['a', 'red', 'tiger,', 'walking']
 */
export function promptWords(text: string): string[] {
  const pieces = text.split(CLIP_SPECIAL_TOKEN_SPLIT).map((piece) => (SPECIAL_TOKENS.has(piece) ? piece : ` ${cleanPromptText(piece)} `));
  return pieces.join('').split(' ').filter((word) => word.length > 0);
}

/**
 * Index of `wanted` among a prompt's words (from {@link promptWords}), ignoring case; -1 when absent.
 * @example findPromptWord(promptWords('a red tiger'), 'Tiger') // 2
 */
export function findPromptWord(words: readonly string[], wanted: string): number {
  const lower = wanted.toLowerCase();
  return words.findIndex((word) => word.toLowerCase() === lower);
}

/** True when the text, once cleaned, has a character that draws something (not only spaces, zero-width or controls). */
export function hasVisibleText(text: string): boolean {
  return VISIBLE.test(cleanPromptText(text));
}

/**
 * The whole cleanup: ftfy-style fixes, whitespace collapse, strip, lowercase.
 * @example cleanPromptText('  “Ｆｉｓｈ” &amp; chips ') // '"fish" & chips'
 */
export function cleanPromptText(text: string): string {
  return fixText(text).replace(SPACE_RUNS, ' ').trim().toLowerCase();
}

/**
 * ftfy's `fix_text` subset described above. Lines are fixed one at a time; once a line contains '<', HTML
 * unescaping stays off for it and every later line (ftfy's "auto" mode).
 */
export function fixText(text: string): string {
  let unescapeHtml = true;
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  return lines
    .map((line) => {
      if (line.includes('<')) unescapeHtml = false;
      return fixUntilStable(line, unescapeHtml);
    })
    .join('');
}

function fixUntilStable(text: string, unescapeHtml: boolean): string {
  for (;;) {
    const before = text;
    if (unescapeHtml) text = unescapeHtmlEntities(text);
    text = fixUtf8Mojibake(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === before) return text;
  }
}

// Windows-1252's 0x80..0x9F; bytes it leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) read as the Latin-1
// control of the same number, as ftfy's "sloppy" codec does.
const CP1252_HIGH = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ';
const SLOPPY_CP1252_BYTE = new Map<string, number>();
for (let b = 0; b < 256; b++) SLOPPY_CP1252_BYTE.set(b >= 0x80 && b < 0xa0 ? CP1252_HIGH[b - 0x80] : String.fromCharCode(b), b);

const CONTINUATION = `[\\u0080-\\u00bf${CP1252_HIGH.replace(/[\u0080-\u009f]/g, '')}]`;
// A UTF-8 lead byte followed by the number of continuation bytes it announces, each read as a cp1252 character.
const MOJIBAKE_SEQUENCE = new RegExp(`[\\u00c2-\\u00df]${CONTINUATION}|[\\u00e0-\\u00ef]${CONTINUATION}{2}|[\\u00f0-\\u00f4]${CONTINUATION}{3}`, 'gu');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** "cafÃ©" → "café": re-decodes sequences that are valid UTF-8 once written back as Windows-1252 bytes. */
export function fixUtf8Mojibake(text: string): string {
  return text.replace(MOJIBAKE_SEQUENCE, (sequence) => {
    const bytes = Uint8Array.from(sequence, (ch) => SLOPPY_CP1252_BYTE.get(ch) ?? 0);
    try {
      return strictUtf8.decode(bytes);
    } catch {
      return sequence; // overlong or surrogate encodings: leave the text as it came
    }
  });
}

function fixC1Controls(text: string): string {
  return text.replace(/[\u0080-\u009f]/g, (ch) => CP1252_HIGH[ch.charCodeAt(0) - 0x80]);
}

const LIGATURES: Readonly<Record<string, string>> = {
  'Ĳ': 'IJ', 'ĳ': 'ij', 'ŉ': 'ʼn', 'Ǳ': 'DZ', 'ǲ': 'Dz', 'ǳ': 'dz', 'Ǆ': 'DŽ', 'ǅ': 'Dž', 'ǆ': 'dž', 'Ǉ': 'LJ', 'ǈ': 'Lj',
  'ǉ': 'lj', 'Ǌ': 'NJ', 'ǋ': 'Nj', 'ǌ': 'nj', 'ﬀ': 'ff', 'ﬁ': 'fi', 'ﬂ': 'fl', 'ﬃ': 'ffi', 'ﬄ': 'ffl', 'ﬅ': 'ſt', 'ﬆ': 'st',
};

function fixLatinLigatures(text: string): string {
  return text.replace(/[ĲĳŉǄ-ǌǱ-ǳﬀ-ﬆ]/g, (ch) => LIGATURES[ch] ?? ch);
}

function fixCharacterWidth(text: string): string {
  return text.replace(/[\u3000\uff01-\uffef]/g, (ch) => (ch === '\u3000' ? ' ' : ch.normalize('NFKC')));
}

function uncurlQuotes(text: string): string {
  return text.replace(/[\u02bc\u2018-\u201b]/g, "'").replace(/[\u201c-\u201f]/g, '"');
}

function fixLineBreaks(text: string): string {
  return text.replace(/\r\n|[\r\u2028\u2029\u0085]/g, '\n');
}

function removeTerminalEscapes(text: string): string {
  return text.replace(/\u001b\[[\d;]*[a-zA-Z]/g, '');
}

function removeControlChars(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b\u000e-\u001f\u007f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');
}

// The entities prompts plausibly carry; ftfy knows all of HTML5's, which a prompt service does not need.
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', copy: '©', reg: '®', trade: '™', deg: '°',
  hellip: '…', mdash: '—', ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', laquo: '«', raquo: '»',
  middot: '·', times: '×', divide: '÷', euro: '€', pound: '£', yen: '¥', cent: '¢', sect: '§', para: '¶',
  eacute: 'é', egrave: 'è', ecirc: 'ê', aacute: 'á', agrave: 'à', acirc: 'â', auml: 'ä', ouml: 'ö', uuml: 'ü',
  szlig: 'ß', ccedil: 'ç', ntilde: 'ñ', iacute: 'í', oacute: 'ó', uacute: 'ú',
};

/** ftfy's `unescape_html`: `&name;`, `&#123;`, `&#x1F600;`; unknown names and invalid numbers stay as written. */
export function unescapeHtmlEntities(text: string): string {
  return text.replace(/&#?[0-9A-Za-z]{1,24};/g, (entity) => {
    const body = entity.slice(1, -1);
    if (body.startsWith('#')) {
      const hex = body[1] === 'x' || body[1] === 'X';
      const digits = body.slice(hex ? 2 : 1);
      if (!(hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits)) return entity;
      const code = parseInt(digits, hex ? 16 : 10);
      return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : entity;
    }
    if (body in NAMED_ENTITIES) return NAMED_ENTITIES[body];
    // ftfy also decodes an accidentally upper-cased name ("&EACUTE;" → "É").
    const lower = body.toLowerCase();
    if (body === body.toUpperCase() && lower in NAMED_ENTITIES) return NAMED_ENTITIES[lower].toUpperCase();
    return entity;
  });
}

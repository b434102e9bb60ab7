/**
 * The prompt tokenizer the engine uses: CLIP BPE (reference-algorithms.md §5.4) with SD1.x padding, plus the
 * word -> token positions prompt-to-prompt needs. Reads the bundle's tokenizer files given as arguments.
 *
 * Normalisation covers what plain prompts need (whitespace collapse, lower case); the full ftfy-compatible
 * tokenizer lives in the models layer.
 */
import { readFileSync } from 'node:fs';
import type { PromptTokenizer } from './model.ts';

const BOS = 49406;
const EOS = 49407;
const MAX = 77;
const PIECES = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** GPT-2/CLIP byte -> printable unicode symbol table. */
function byteEncoder(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) table[b] = printable.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++);
  return table;
}

/**
 * Opens the tokenizer of a bundle.
 * @param vocabPath tokenizer/vocab.json
 * @param mergesPath tokenizer/merges.txt
 */
export function openPromptTokenizer(vocabPath: string, mergesPath: string): PromptTokenizer {
  const vocab = JSON.parse(readFileSync(vocabPath, 'utf8')) as Record<string, number>;
  const ranks = new Map<string, number>();
  readFileSync(mergesPath, 'utf8').split('\n').slice(1).forEach((line, i) => {
    if (line.trim()) ranks.set(line, i);
  });
  const bytes = byteEncoder();
  const cache = new Map<string, number[]>();

  const bpe = (piece: string): number[] => {
    const cached = cache.get(piece);
    if (cached) return cached;
    if (piece === '<|startoftext|>') return [BOS];
    if (piece === '<|endoftext|>') return [EOS];
    let symbols = [...new TextEncoder().encode(piece)].map((b) => bytes[b]);
    symbols[symbols.length - 1] += '</w>';
    for (;;) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i < symbols.length - 1; i++) {
        const r = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) break;
      const a = symbols[best], b = symbols[best + 1];
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i < symbols.length - 1 && symbols[i] === a && symbols[i + 1] === b) { merged.push(a + b); i++; } else merged.push(symbols[i]);
      }
      symbols = merged;
    }
    const ids = symbols.map((s) => {
      const id = vocab[s];
      if (id === undefined) throw new Error(`tokenizer: symbol '${s}' is not in ${vocabPath}; the vocabulary and merges files do not match.`);
      return id;
    });
    cache.set(piece, ids);
    return ids;
  };

  const normalize = (text: string) => text.replace(/\s+/g, ' ').trim().toLowerCase();
  const tokens = (text: string): number[] => [...normalize(text).matchAll(PIECES)].flatMap((m) => bpe(m[0]));

  return {
    encodeUnpadded(text) {
      return [BOS, ...tokens(text).slice(0, MAX - 2), EOS];
    },
    encodeForModel(text) {
      const body = tokens(text);
      const ids = [BOS, ...body.slice(0, MAX - 2), EOS];
      while (ids.length < MAX) ids.push(EOS);
      return { ids, truncated: body.length > MAX - 2 };
    },
    words(text) {
      const words = text.trim().split(' ').filter((w) => w.length > 0);
      const tokenPositions: number[][] = [];
      let next = 1; // after BOS
      for (const w of words) {
        const count = tokens(w).length;
        tokenPositions.push(Array.from({ length: count }, (_, k) => next + k).filter((p) => p < MAX - 1));
        next += count;
      }
      return { words, tokenPositions };
    },
  };
}

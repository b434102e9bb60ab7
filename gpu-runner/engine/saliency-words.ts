/**
 * Which source-prompt tokens the `auto` saliency mask listens to (method.md §5, [ours]). Inversion records
 * cross-attention against the source prompt, so every choice ends as token positions of the source prompt, found
 * with the CLIP tokenizer's own word split (the same positions the attention maps are indexed by).
 *
 * In order of preference:
 *   1. `blend-words`: the words the request names (fusion.blendWords.source);
 *   2. `prompt-difference`: content words of the source that the target does not have ("a brown bear" → "a red
 *      tiger": brown, bear);
 *   3. `target-content-words`: when the source has no such word (a style edit, or the same words reordered), the
 *      target's content words that the source also has: the object the edit keeps talking about.
 * Stop words ("a", "the", "on", …) never count: they attend everywhere and would make the mask the whole frame.
 */

/** A prompt split by the tokenizer: its words (cleaned, lower case) and each word's token positions. */
export interface LocatedWords {
  readonly words: readonly string[];
  readonly tokenPositions: readonly (readonly number[])[];
}

export type SaliencyBasis = 'blend-words' | 'prompt-difference' | 'target-content-words';

/**
 * The chosen words and their token positions; `promptPositions`: every word's positions in the source prompt (no
 * start, end or padding token), what the words' attention is measured against (saliency-attention.ts).
 */
export type SaliencyWords =
  | { readonly basis: SaliencyBasis; readonly words: string[]; readonly positions: number[]; readonly promptPositions: number[] }
  | { readonly basis: null; readonly reason: string };

/** English function words that carry no object (articles, prepositions, conjunctions, pronouns, auxiliaries). */
const STOP_WORDS = new Set(
  ('a an the this that these those some any of on in at to into onto over under above below across along around '
    + 'behind beside between by for from near off out through toward towards up down with within without against '
    + 'and or but nor so as than then while is are was were be been being has have had do does did it its itself '
    + 'he she they them their his her we our you your i my me one very just there here who which what').split(' '),
);

/** A word as compared: letters and digits only, lower case ("Jeep," and "jeep" are one word). */
export function wordKey(word: string): string {
  return word.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');
}

/** True for words that name something: not a stop word, not punctuation alone. */
export function isContentWord(word: string): boolean {
  const key = wordKey(word);
  return key.length > 0 && !STOP_WORDS.has(key);
}

/**
 * Picks the saliency words and their source-prompt token positions.
 * @param explicit the request's blend words for the source prompt, when it names them
 */
export function chooseSaliencyWords(source: LocatedWords, target: LocatedWords, explicit?: readonly string[]): SaliencyWords {
  const positionsOf = (keys: ReadonlySet<string>) => {
    const words: string[] = [];
    const positions: number[] = [];
    source.words.forEach((w, i) => {
      if (!keys.has(wordKey(w))) return;
      words.push(w);
      positions.push(...source.tokenPositions[i]);
    });
    return { words, positions: [...new Set(positions)].sort((a, b) => a - b) };
  };
  const pick = (basis: SaliencyBasis, keys: Set<string>): SaliencyWords | null => {
    const found = positionsOf(keys);
    return found.positions.length > 0 ? { basis, ...found, promptPositions: [...new Set(source.tokenPositions.flat())].sort((a, b) => a - b) } : null;
  };
  if (explicit && explicit.length > 0) {
    const chosen = pick('blend-words', new Set(explicit.map(wordKey)));
    if (chosen) return chosen;
  }
  const targetKeys = new Set(target.words.map(wordKey));
  const sourceKeys = new Set(source.words.map(wordKey));
  const difference = new Set(source.words.filter((w) => isContentWord(w) && !targetKeys.has(wordKey(w))).map(wordKey));
  const kept = new Set(target.words.filter((w) => isContentWord(w) && sourceKeys.has(wordKey(w))).map(wordKey));
  const chosen = pick('prompt-difference', difference) ?? pick('target-content-words', kept);
  if (chosen) return chosen;
  const reason = source.tokenPositions.every((p) => p.length === 0)
    ? 'the source prompt has no tokens within the 75 CLIP reads'
    : 'neither prompt names an object the other shares or lacks (only stop words differ, and the target has no content word of the source)';
  return { basis: null, reason };
}

/** Byte-pair merging over one pre-token (Sennrich et al. 2016, with GPT-2's byte symbols and CLIP's `</w>`). */

/** The end-of-word marker CLIP appends to a pre-token's last symbol. */
export const END_OF_WORD = '</w>';

/**
 * Splits `word` (byte symbols of one pre-token) into vocabulary tokens: start from single symbols with `</w>` on
 * the last, then repeatedly merge every occurrence of the adjacent pair with the lowest rank, until no ranked
 * pair is left.
 * @param ranks merge rank by `"left right"` (the merges.txt line), lower merges first.
 */
export function bytePairMerge(word: string, ranks: ReadonlyMap<string, number>): string[] {
  let parts = [...word];
  if (parts.length === 0) return [];
  parts[parts.length - 1] += END_OF_WORD;
  while (parts.length > 1) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i < parts.length - 1; i++) {
      const rank = ranks.get(`${parts[i]} ${parts[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) break;
    const left = parts[best];
    const right = parts[best + 1];
    const merged: string[] = [];
    // Left to right, so "a a a" with pair (a, a) gives "aa a", as the reference implementations do.
    for (let i = 0; i < parts.length; i++) {
      if (i < parts.length - 1 && parts[i] === left && parts[i + 1] === right) {
        merged.push(left + right);
        i++;
      } else {
        merged.push(parts[i]);
      }
    }
    parts = merged;
  }
  return parts;
}

/**
 * Prompt-to-prompt token alignment between the source and the target prompt (method.md §3 step 4,
 * reference-algorithms.md §2.4). Every controller is expressed as one 77x77 matrix M, a per-token
 * alpha and a per-token weight w, so Refine and Replace share one in-graph formula:
 *
 *   S' = ((S @ M) * alpha + P * (1 - alpha)) * w        (S: stored source map, P: the edit's own map)
 *
 * Refine: M = onehot(mapper) (column j holds a 1 at row mapper[j]), alpha = 1 on aligned tokens.
 * Replace: M = the word-swap matrix, alpha = 1 everywhere.
 * Pure functions over token ids and word->token positions; no tokenizer dependency.
 */

/** Number of text tokens the CLIP text encoder sees (BOS + 75 + EOS). */
export const MAX_TOKENS = 77;

/** One 77-token controller in matrix form: `S' = ((S @ matrix) * alpha + P * (1 - alpha)) * weights`. */
export interface CrossAttentionMapping {
  /** [77*77] row-major: source token (row) -> target token (column). */
  matrix: Float32Array;
  /** [77]: 1 where the target token takes the source map, 0 where it keeps its own. */
  alpha: Float32Array;
  /** [77]: per-target-token reweighting (1 = unchanged). */
  weights: Float32Array;
}

/**
 * Global alignment (Needleman-Wunsch with gap 0, match 1, mismatch -1) of two token sequences.
 * Returns, for each position of `target`, the aligned position in `source`, or -1 for a new token.
 * Ties prefer a gap in the source ("left"), then a gap in the target ("up"), then the diagonal,
 * which is the order prompt-to-prompt's aligner uses.
 */
export function alignTokens(source: readonly number[], target: readonly number[]): Int32Array {
  const rows = source.length + 1;
  const cols = target.length + 1;
  const score = new Int32Array(rows * cols); // gap 0: the first row and column stay 0
  const LEFT = 1, UP = 2, DIAG = 3, STOP = 4;
  const trace = new Uint8Array(rows * cols);
  for (let j = 1; j < cols; j++) trace[j] = LEFT;
  for (let i = 1; i < rows; i++) trace[i * cols] = UP;
  trace[0] = STOP;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const left = score[i * cols + j - 1];
      const up = score[(i - 1) * cols + j];
      const diag = score[(i - 1) * cols + j - 1] + (source[i - 1] === target[j - 1] ? 1 : -1);
      const best = Math.max(left, up, diag);
      score[i * cols + j] = best;
      trace[i * cols + j] = best === left ? LEFT : best === up ? UP : DIAG;
    }
  }
  const mapper = new Int32Array(target.length).fill(-1);
  let i = source.length;
  let j = target.length;
  while (i > 0 || j > 0) {
    const move = trace[i * cols + j];
    if (move === DIAG) {
      i--; j--;
      mapper[j] = i;
    } else if (move === LEFT) {
      j--;
      mapper[j] = -1;
    } else if (move === UP) {
      i--;
    } else {
      break;
    }
  }
  return mapper;
}

/**
 * Refine controller ("attribute/style" edits): aligned target tokens take the source map of their source token,
 * new target tokens keep their own map. `sourceIds`/`targetIds` are the unpadded encodings WITH BOS and EOS.
 * Padding positions beyond the target's length map to the following source positions (alpha 1).
 * @throws when an encoding is longer than 77 tokens.
 */
export function refineMapping(sourceIds: readonly number[], targetIds: readonly number[]): { mapper: Int32Array; alpha: Float32Array } {
  for (const [name, ids] of [['source', sourceIds], ['target', targetIds]] as const) {
    if (ids.length > MAX_TOKENS) throw new Error(`refineMapping: the ${name} encoding has ${ids.length} tokens; at most ${MAX_TOKENS} (BOS + 75 + EOS) are allowed. Truncate the prompt first.`);
  }
  const aligned = alignTokens(sourceIds, targetIds);
  const mapper = new Int32Array(MAX_TOKENS);
  const alpha = new Float32Array(MAX_TOKENS).fill(1);
  for (let j = 0; j < aligned.length; j++) {
    mapper[j] = aligned[j];
    alpha[j] = aligned[j] === -1 ? 0 : 1;
  }
  // Padding positions (after the target's EOS) read the same position of the source map.
  for (let j = aligned.length; j < MAX_TOKENS; j++) mapper[j] = j;
  return { mapper, alpha };
}

/** Refine as a matrix: column j is onehot(mapper[j]) (all zero for a new token), so `S @ M = S[..., mapper]`. */
export function mapperToMatrix(mapper: Int32Array): Float32Array {
  const matrix = new Float32Array(MAX_TOKENS * MAX_TOKENS);
  for (let j = 0; j < MAX_TOKENS; j++) if (mapper[j] >= 0) matrix[mapper[j] * MAX_TOKENS + j] = 1;
  return matrix;
}

/** Words of a prompt with the token positions (BOS = 0, so the first word starts at 1) each one covers. */
export interface PromptWords {
  words: readonly string[];
  /** tokenPositions[k] = positions in the 77-token encoding covered by words[k]. */
  tokenPositions: readonly (readonly number[])[];
}

/**
 * Replace controller (word swap of equal word count): unchanged tokens map to themselves; a swapped source word's
 * tokens map to the target word's tokens (pairwise when the counts match, spread evenly over the target tokens
 * otherwise). After the last swapped word, the diagonal continues.
 * @throws when the prompts have different word counts (use Refine then).
 */
export function replaceMatrix(source: PromptWords, target: PromptWords): Float32Array {
  if (source.words.length !== target.words.length) {
    throw new Error(`replaceMatrix: word swap needs the same number of words; source has ${source.words.length} (${source.words.join(' ')}), target has ${target.words.length} (${target.words.join(' ')}). Use the 'refine' controller instead.`);
  }
  const swapped: number[] = [];
  for (let k = 0; k < target.words.length; k++) if (source.words[k] !== target.words[k]) swapped.push(k);
  const matrix = new Float32Array(MAX_TOKENS * MAX_TOKENS);
  let i = 0;
  let j = 0;
  let next = 0;
  while (i < MAX_TOKENS && j < MAX_TOKENS) {
    if (next < swapped.length && source.tokenPositions[swapped[next]][0] === i) {
      const from = source.tokenPositions[swapped[next]];
      const to = target.tokenPositions[swapped[next]];
      if (from.length === to.length) {
        for (let k = 0; k < from.length; k++) matrix[from[k] * MAX_TOKENS + to[k]] = 1;
      } else {
        for (const t of to) for (const s of from) matrix[s * MAX_TOKENS + t] = 1 / to.length;
      }
      next++;
      i += from.length;
      j += to.length;
    } else if (next < swapped.length) {
      matrix[i * MAX_TOKENS + j] = 1;
      i++; j++;
    } else {
      // After the last swap upstream continues the diagonal on the TARGET index (j, j), not (i, j); kept for
      // parity with FateZero (it only differs when a swap changed the token count).
      matrix[j * MAX_TOKENS + j] = 1;
      i++; j++;
    }
  }
  return matrix;
}

/**
 * Per-token reweighting vector (prompt-to-prompt's "equalizer") over the TARGET prompt: tokens of each named word
 * get that word's weight, every other token 1. No renormalisation follows, by design.
 * @throws when a named word is not a word of the target prompt.
 */
export function reweightVector(target: PromptWords, reweight: Readonly<Record<string, number>>): Float32Array {
  const weights = new Float32Array(MAX_TOKENS).fill(1);
  for (const [word, value] of Object.entries(reweight)) {
    let found = false;
    target.words.forEach((w, k) => {
      if (w.toLowerCase() !== word.toLowerCase()) return;
      found = true;
      for (const p of target.tokenPositions[k]) weights[p] = value;
    });
    if (!found) throw new Error(`reweight: '${word}' is not a word of the target prompt (words: ${target.words.join(', ')}). Name a word exactly as it appears in the target prompt.`);
  }
  return weights;
}

/** The controller kinds of method.md §3 step 4. */
export type FusionController = 'refine' | 'replace';

/**
 * Builds the controller in matrix form. `refine` aligns the token encodings; `replace` swaps words.
 * @param sourceIds / targetIds unpadded encodings with BOS and EOS (used by refine)
 */
export function buildCrossAttentionMapping(args: {
  controller: FusionController;
  sourceIds: readonly number[];
  targetIds: readonly number[];
  source: PromptWords;
  target: PromptWords;
  reweight?: Readonly<Record<string, number>>;
}): CrossAttentionMapping {
  const weights = reweightVector(args.target, args.reweight ?? {});
  if (args.controller === 'replace') {
    return { matrix: replaceMatrix(args.source, args.target), alpha: new Float32Array(MAX_TOKENS).fill(1), weights };
  }
  if (args.controller !== 'refine') throw new Error(`Unknown fusion controller '${String(args.controller)}'; allowed: refine, replace.`);
  const { mapper, alpha } = refineMapping(args.sourceIds, args.targetIds);
  return { matrix: mapperToMatrix(mapper), alpha, weights };
}

/**
 * Cross-attention time gate (prompt-to-prompt `get_time_words_attention_alpha`): edit step c is fused while
 * c < floor(fraction * (steps + 1)).
 */
export function crossReplaceActive(step: number, steps: number, fraction: number): boolean {
  return step < Math.floor(fraction * (steps + 1));
}

/** Self-attention time window: fused while floor(start * steps) <= c < floor(end * steps); a number x means (0, x). */
export function selfReplaceActive(step: number, steps: number, window: number | readonly [number, number]): boolean {
  const [start, end] = typeof window === 'number' ? [0, window] : window;
  return Math.floor(start * steps) <= step && step < Math.floor(end * steps);
}

/**
 * Reference (host-side) fusion of one cross-attention map, used by tests and as the spec of the in-graph formula.
 * @param source [rows, 77] stored source probabilities
 * @param edit   [rows, 77] the edit's own probabilities
 */
export function fuseCrossReference(source: Float32Array, edit: Float32Array, rows: number, mapping: CrossAttentionMapping, gate: number): Float32Array {
  const out = new Float32Array(rows * MAX_TOKENS);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < MAX_TOKENS; j++) {
      let sm = 0;
      for (let k = 0; k < MAX_TOKENS; k++) sm += source[r * MAX_TOKENS + k] * mapping.matrix[k * MAX_TOKENS + j];
      const p = edit[r * MAX_TOKENS + j];
      const fused = (sm * mapping.alpha[j] + p * (1 - mapping.alpha[j])) * mapping.weights[j];
      out[r * MAX_TOKENS + j] = fused * gate + p * (1 - gate);
    }
  }
  return out;
}

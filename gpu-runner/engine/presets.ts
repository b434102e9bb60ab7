/**
 * Presets and the choices the engine derives from the prompts (method.md §2). The knobs and their per-preset
 * defaults live in shared/edit-request.ts; this file adds what depends on the prompts themselves.
 */
import { type EditContext, type EditOptions, type EditRequest, resolveEditOptions } from '../../shared/edit-request.ts';
import type { FusionController } from './fusion/seq-aligner.ts';

/** Resolves a request to every knob (preset defaults + overrides). @throws on contradicting knobs. */
export function resolveOptions(request: EditRequest, context: EditContext = {}): EditOptions {
  return resolveEditOptions(request, context);
}

/** 'auto' picks Replace when the prompts have the same number of words (a word swap), else Refine. */
export function chooseController(requested: EditOptions['fusion']['controller'], sourceWords: readonly string[], targetWords: readonly string[]): FusionController {
  if (requested === 'refine' || requested === 'replace') return requested;
  return sourceWords.length === targetWords.length ? 'replace' : 'refine';
}

/**
 * Token positions of the given words in a prompt: every occurrence of each word, as FateZero's word index
 * (`get_word_inds`) marks them.
 * @param prompt the prompt's words (lower-case) and each word's token positions
 * @throws Error naming a word that is not in the prompt
 */
export function wordTokenPositions(words: readonly string[], prompt: { words: readonly string[]; tokenPositions: readonly (readonly number[])[] }): number[] {
  const out: number[] = [];
  for (const w of words) {
    const found = prompt.words.flatMap((word, k) => (word.toLowerCase() === w.toLowerCase() ? [k] : []));
    if (found.length === 0) throw new Error(`Blend word '${w}' is not a word of the source prompt (${prompt.words.join(' ')}). Name words exactly as they appear.`);
    for (const k of found) out.push(...prompt.tokenPositions[k]);
  }
  return out;
}

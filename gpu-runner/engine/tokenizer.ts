/**
 * The prompt tokenizer the engine uses: the models layer's CLIP BPE tokenizer (SD1.x padding, ftfy-compatible
 * cleanup) behind the small interface the pipeline needs. Reads the bundle's tokenizer files given as arguments.
 */
import { CLIPTokenizer } from '../models/clip-tokenizer.ts';
import type { PromptTokenizer } from './model.ts';

/**
 * Opens the tokenizer of a bundle.
 * @param vocabPath tokenizer/vocab.json
 * @param mergesPath tokenizer/merges.txt
 */
export function openPromptTokenizer(vocabPath: string, mergesPath: string): PromptTokenizer {
  const tokenizer = CLIPTokenizer.fromFiles(vocabPath, mergesPath);
  return {
    encodeForModel: (text) => tokenizer.encodeForModel(text),
    encodeUnpadded(text) {
      const { ids } = tokenizer.encodeForModel(text);
      const end = ids.indexOf(49407);
      return ids.slice(0, end + 1);
    },
    words(text) {
      const located = tokenizer.wordTokenPositions(text);
      return { words: located.map((w) => w.word), tokenPositions: located.map((w) => w.positions) };
    },
  };
}

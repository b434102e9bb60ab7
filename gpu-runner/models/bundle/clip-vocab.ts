/**
 * Which CLIP BPE vocabulary a generated (random-weight) bundle's tokenizer is built from: the file given, else
 * OpenAI's `bpe_simple_vocab_16e6.txt.gz` that ships in `assets/`.
 */
import { CLIP_VOCAB_GZ } from '../../assets.ts';

/** @param explicitPath a vocabulary file the caller named: used as is (its reader reports a missing file) */
export function resolveClipVocab(options: { explicitPath?: string } = {}): string {
  return options.explicitPath ?? CLIP_VOCAB_GZ;
}

/**
 * What the `auto` saliency mask measures per latent pixel: the share of the source prompt's word attention that
 * the saliency words take [ours].
 *
 * Why a share and not the words' raw attention: every prompt token's cross-attention carries one common spatial
 * pattern (where a pixel attends to the prompt at all, rather than to the start and padding tokens), which says
 * nothing about which word a pixel belongs to. On the embedded toy model it is all there is in the raw maps: on
 * the sample clip every token, "red" included, gets less attention on the object than on the background, so the
 * raw map of "red" selected the background (measured by scripts/auto-mask-quality.ts; numbers in
 * assets/toy-model/README.md). Dividing by the attention of all the prompt's words removes that pattern and keeps
 * what is specific to the chosen words.
 */
import { type CrossMap, wordAttention } from './fusion/blend-mask.ts';

/**
 * [frames, h, w] share (0..1) of the attention to `promptTokens` that goes to `wordTokens`, averaged over heads and
 * layers like `wordAttention`; 0 where the prompt gets no attention at all.
 */
export function wordShareOfPrompt(maps: readonly CrossMap[], wordTokens: readonly number[], promptTokens: readonly number[]): { data: Float32Array; frames: number; height: number; width: number } {
  const words = wordAttention(maps, wordTokens);
  const prompt = wordAttention(maps, promptTokens);
  const data = words.data.map((v, i) => (prompt.data[i] > 0 ? v / prompt.data[i] : 0));
  return { ...words, data };
}

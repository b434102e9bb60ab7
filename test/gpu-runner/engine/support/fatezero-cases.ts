/** FateZero's own cases on the tiny reference model (test/fixtures/reference/fatezero-cases): their index and layout. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FATEZERO_CASES_DIR } from '../../../support/paths.ts';
import type { LoadedTensor } from './safetensors.ts';

export interface FateZeroCase {
  file: string;
  source_prompt: string;
  target_prompt: string;
  frames: number;
  size: number;
  steps: number;
  guidance: number;
  fatezero_p2p_config: {
    is_replace_controller: boolean;
    cross_replace_steps: { default_: number };
    self_replace_steps: number;
    eq_params?: { words: string[]; values: number[] };
    blend_words?: [string[], string[]];
    blend_th?: [number, number];
  };
}

/** Every case of the folder's index.json, by name. */
export const FATEZERO_CASES = (JSON.parse(readFileSync(join(FATEZERO_CASES_DIR, 'index.json'), 'utf8')) as { cases: Record<string, FateZeroCase> }).cases;

export /** FateZero's [C, F, h, w] (or [F, C, h, w] when `fromFrames`) -> our [F, C, h, w]. */
function framesFirst(t: LoadedTensor): Float32Array {
  const [C, F, h, w] = t.shape;
  const out = new Float32Array(C * F * h * w);
  const plane = h * w;
  for (let c = 0; c < C; c++) for (let f = 0; f < F; f++) out.set((t.data as Float32Array).subarray((c * F + f) * plane, (c * F + f + 1) * plane), (f * C + c) * plane);
  return out;
}

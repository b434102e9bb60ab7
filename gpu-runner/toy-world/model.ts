/**
 * The embedded default model: a small Stable Diffusion 1.x-layout model trained on the toy world
 * (`trainer/`, model card in `assets/toy-model/README.md`). It ships in the repository so that `npm start`,
 * the playground and `ocd edit` show real edits without downloading weights.
 */
import { resolve } from 'node:path';
import { ASSETS_DIR } from '../assets.ts';

/** The trained toy model's diffusers folder. */
export const TOY_MODEL_DIR = resolve(ASSETS_DIR, 'toy-model');

/** The model an entry point uses: an explicit folder (flag or OCD_MODEL_DIR), else the toy model. */
export function defaultModelDir(explicit?: string): string {
  return explicit && explicit.length > 0 ? explicit : TOY_MODEL_DIR;
}

/** The model a local worker runs: OCD_MODEL_DIR when set, else the embedded toy model (assets/toy-model). */
import { defaultModelDir } from '../../gpu-runner/toy-world/model.ts';

export function localModelDir(): string {
  return defaultModelDir(process.env.OCD_MODEL_DIR);
}

import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../../../../gpu-runner/models/safetensors.ts';

/**
 * A copy of a bundle whose UNet output conv weight is multiplied by `scale`: with 0 the noise prediction is the
 * constant conv_out bias, for which DDIM inversion and sampling are exact inverses (a model-independent check of
 * the pipeline's pairing); small scales give a smooth, nearly constant predictor.
 */
export function scaledOutputBundle(sourceDir: string, targetDir: string, scale: number): string {
  if (existsSync(join(targetDir, 'model_index.json'))) return targetDir;
  rmSync(targetDir, { recursive: true, force: true });
  cpSync(sourceDir, targetDir, { recursive: true });
  const path = join(targetDir, 'unet', 'diffusion_pytorch_model.safetensors');
  const file = SafetensorsFile.open(path);
  const entries = file.names().map((name) => {
    const info = file.info(name)!;
    const data = file.readFloat32(name);
    return { name, dtype: 'F32' as const, shape: info.shape, data: name === 'conv_out.weight' ? data.map((v) => v * scale) : data };
  });
  file.close();
  writeSafetensors(path, entries);
  return targetDir;
}

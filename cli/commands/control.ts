/**
 * `ocd control`: compute control signals for a ControlNet.
 *
 *   ocd control canny <in.safetensors> <out.safetensors> --low L --high H
 *
 * Reads `image` (or `input.image`), uint8 [N, H, W, C] (RGB frames), and writes `edges`, uint8 [N, H, W] with
 * values 0 and 255: OpenCV's cv2.Canny(image, L, H) per frame, bit for bit. Depth, pose or line-art maps need
 * estimator weights that cannot ship with this project: supply them as a control video instead.
 */
import { parseArgs } from 'node:util';
import { cannyFrames } from '../../gpu-runner/control/canny.ts';
import { SafetensorsFile, writeSafetensors } from '../../gpu-runner/models/safetensors.ts';
import { runSubcommands, UsageError } from '../subcommands.ts';

export const summary = 'compute control signals (canny edges) for a ControlNet from a safetensors file of frames';

const USAGE = `usage:
  ocd control canny <in.safetensors> <out.safetensors> --low L --high H
Input tensor 'image' (or 'input.image'): uint8 [N, H, W, C]. Output tensor 'edges': uint8 [N, H, W], 0 or 255,
as OpenCV's cv2.Canny(image, L, H) (aperture 3, L1 gradient). Depth, pose and line-art maps are not computed here
(their estimators' weights cannot ship): pass them to an edit as a control video.`;

function threshold(name: string, value: string | undefined): number {
  const parsed = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(parsed) || parsed < 0) {
    throw new UsageError(`--${name} must be a non-negative number (a threshold on |dx| + |dy|, 0..2040); got '${value ?? ''}'`);
  }
  return parsed;
}

/** Runs canny on every frame of `inputPath` and writes `edges` to `outputPath`. @returns the output shape. */
export function cannyFile(inputPath: string, outputPath: string, thresholds: { low: number; high: number }): number[] {
  const file = SafetensorsFile.open(inputPath);
  try {
    const name = ['image', 'input.image'].find((candidate) => file.has(candidate));
    if (!name) throw new Error(`${inputPath}: no tensor 'image' (or 'input.image'); it has ${file.names().join(', ')}`);
    const info = file.info(name)!;
    if (info.dtype !== 'U8' || info.shape.length !== 4) {
      throw new Error(`${inputPath}: '${name}' is ${info.dtype} [${info.shape.join(', ')}]; expected U8 [N, H, W, C] frames`);
    }
    const shape = info.shape as unknown as [number, number, number, number];
    const edges = cannyFrames(file.readBytes(name), shape, thresholds);
    const outShape = [shape[0], shape[1], shape[2]];
    writeSafetensors(outputPath, [{ name: 'edges', dtype: 'U8', shape: outShape, data: edges }]);
    return outShape;
  } finally {
    file.close();
  }
}

async function runCanny(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { low: { type: 'string' }, high: { type: 'string' } } });
  if (positionals.length !== 2) throw new UsageError(`ocd control canny takes an input and an output file; got ${positionals.length} arguments`);
  const thresholds = { low: threshold('low', values.low), high: threshold('high', values.high) };
  const shape = cannyFile(positionals[0], positionals[1], thresholds);
  console.log(`edges: uint8 [${shape.join(', ')}]`);
  return 0;
}

/** Entry point of `ocd control`. */
export function run(argv: string[]): Promise<number> {
  return runSubcommands('control', USAGE, { canny: runCanny }, argv);
}

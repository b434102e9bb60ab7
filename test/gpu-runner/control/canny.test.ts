import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canny, cannyFrames } from '../../../gpu-runner/control/canny.ts';
import { SafetensorsFile } from '../../../gpu-runner/models/safetensors.ts';
import { CONTROL_CASES_DIR } from '../../support/paths.ts';

function readCase(name: string) {
  const file = SafetensorsFile.open(join(CONTROL_CASES_DIR, `${name}.safetensors`));
  const shape = file.info('input.image')!.shape as unknown as [number, number, number, number];
  const image = file.readBytes('input.image');
  const edges = file.readBytes('output.edges');
  file.close();
  return { shape, image, edges };
}

describe('canny equals OpenCV 4.6 cv2.Canny bit for bit', () => {
  it.each([['canny_100_200', 100, 200], ['canny_50_150', 50, 150]] as const)('%s', (name, low, high) => {
    const { shape, image, edges } = readCase(name);
    const ours = cannyFrames(image, shape, { low, high });
    let differing = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] !== edges[i]) differing++;
    expect(differing).toBe(0);
    expect(ours.some((v) => v === 255)).toBe(true);
  });

  it('swaps thresholds given in the wrong order, as OpenCV does', () => {
    const { shape, image, edges } = readCase('canny_100_200');
    expect(Buffer.from(cannyFrames(image, shape, { low: 200, high: 100 })).equals(Buffer.from(edges))).toBe(true);
  });

  it('a flat image has no edges; a step has a one-pixel-wide edge', () => {
    const width = 16;
    const height = 8;
    const flat = new Uint8Array(width * height * 3).fill(90);
    expect(canny({ data: flat, width, height, channels: 3 }, { low: 10, high: 20 }).every((v) => v === 0)).toBe(true);
    const step = Uint8Array.from({ length: width * height }, (_, p) => ((p % width) < 8 ? 0 : 200));
    const edges = canny({ data: step, width, height, channels: 1 }, { low: 10, high: 20 });
    for (let y = 0; y < height; y++) expect([...edges.subarray(y * width, (y + 1) * width)].filter((v) => v === 255).length).toBe(1);
  });

  it('rejects data that does not match the shape', () => {
    expect(() => canny({ data: new Uint8Array(10), width: 4, height: 4, channels: 3 }, { low: 1, high: 2 })).toThrow(RangeError);
  });
});

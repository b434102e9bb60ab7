/**
 * The preview video: input | mask | output side by side, three working-size panels wide, encoded like the output,
 * each panel captioned in its top-left corner.
 */
import { encodeVideo, type AudioSource, type EncodedVideo } from './encode.ts';
import { checkFrameLength } from './frames.ts';
import { drawLabel, maskCaption } from './labels.ts';
import type { Rational } from './probe.ts';
import type { VideoToolOptions } from './tools.ts';

/** How the middle panel shows the mask: as a grey image, or as a red tint over the input. */
export type MaskStyle = 'grey' | 'tint';

export interface PreviewOptions extends VideoToolOptions {
  /** Working-size RGB24 frames of the input and of the edit, the same count. */
  readonly input: readonly Uint8Array[];
  readonly output: readonly Uint8Array[];
  /** One [height, width] map in [0, 1] per frame; null shows a black panel (no mask was used). */
  readonly masks: readonly Float32Array[] | null;
  /**
   * Working-size RGB24 control maps (ControlVideo): shown after the input, and then the mask panel only when there
   * are masks (input | control | mask | output, or input | control | output). @default - no control panel
   */
  readonly control?: readonly Uint8Array[];
  readonly width: number;
  readonly height: number;
  readonly fps: number | Rational;
  readonly outPath: string;
  /** @default 'grey' */
  readonly maskStyle?: MaskStyle;
  /** @default - no audio */
  readonly audioFrom?: AudioSource;
  /** @default 23 (a preview need not be pristine) */
  readonly crf?: number;
  /** @default 'veryfast' */
  readonly preset?: string;
}

/** Strength of the red tint at mask value 1. */
const TINT_ALPHA = 0.6;

/**
 * Renders the middle panel for each frame from the masks (and the input, for the tint style).
 * @throws RangeError when counts or sizes disagree.
 */
export function renderMaskPanels(
  masks: readonly Float32Array[] | null,
  input: readonly Uint8Array[],
  width: number,
  height: number,
  style: MaskStyle = 'grey',
): Uint8Array[] {
  const plane = width * height;
  if (masks === null) return input.map(() => new Uint8Array(plane * 3));
  if (masks.length !== input.length) throw new RangeError(`Got ${masks.length} masks for ${input.length} frames; give one per frame.`);
  return masks.map((mask, f) => {
    if (mask.length !== plane) throw new RangeError(`Mask ${f} has ${mask.length} values; ${width}x${height} needs ${plane}.`);
    const panel = new Uint8Array(plane * 3);
    for (let p = 0; p < plane; p++) {
      const m = Math.min(1, Math.max(0, mask[p] || 0));
      if (style === 'grey') {
        panel.fill(Math.round(m * 255), p * 3, p * 3 + 3);
      } else {
        const a = TINT_ALPHA * m;
        panel[p * 3] = Math.round(input[f][p * 3] * (1 - a) + 255 * a);
        panel[p * 3 + 1] = Math.round(input[f][p * 3 + 1] * (1 - a));
        panel[p * 3 + 2] = Math.round(input[f][p * 3 + 2] * (1 - a));
      }
    }
    return panel;
  });
}

/**
 * Places panels left to right: frame f of the result is panels[0][f] | panels[1][f] | ...
 * @throws RangeError when panels have different frame counts or a frame has the wrong size.
 * @example composeSideBySide([input, maskPanels, output], 512, 512) // frames 1536 wide
 */
export function composeSideBySide(panels: readonly (readonly Uint8Array[])[], width: number, height: number): Uint8Array[] {
  const frameCount = panels[0]?.length ?? 0;
  panels.forEach((panel, i) => {
    if (panel.length !== frameCount) throw new RangeError(`Panel ${i} has ${panel.length} frames; panel 0 has ${frameCount}. Give every panel the same frames.`);
    panel.forEach((frame, f) => checkFrameLength(frame, width, height, f));
  });
  const rowBytes = width * 3;
  const wideRowBytes = rowBytes * panels.length;
  return Array.from({ length: frameCount }, (_, f) => {
    const wide = new Uint8Array(wideRowBytes * height);
    for (let y = 0; y < height; y++) {
      panels.forEach((panel, i) => wide.set(panel[f].subarray(y * rowBytes, (y + 1) * rowBytes), y * wideRowBytes + i * rowBytes));
    }
    return wide;
  });
}

/**
 * Encodes the input | mask | output preview (three times the working width) to `outPath`.
 * @throws RangeError when frame counts or sizes disagree; VideoToolError as `encodeVideo`.
 * @example await writePreview({ input, output, masks, width: 512, height: 512, fps: 8, outPath: 'preview.mp4' });
 */
export async function writePreview(options: PreviewOptions): Promise<EncodedVideo> {
  const { input, output, masks, width, height, maskStyle = 'grey', control } = options;
  const maskPanels = renderMaskPanels(masks, input, width, height, maskStyle);
  // Each panel says what it is; an all-black or all-white mask says why (no mask, empty, whole frame).
  const panels = [
    drawLabel(input, width, height, 'INPUT'),
    ...(control ? [drawLabel(control, width, height, 'CONTROL')] : []),
    ...(!control || masks ? [drawLabel(maskPanels, width, height, maskCaption(masks))] : []),
    drawLabel(output, width, height, 'OUTPUT'),
  ];
  const wide = composeSideBySide(panels, width, height);
  return encodeVideo(wide, {
    ffmpegPath: options.ffmpegPath,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    fps: options.fps,
    outPath: options.outPath,
    audioFrom: options.audioFrom,
    width: width * panels.length,
    height,
    crf: options.crf ?? 23,
    preset: options.preset ?? 'veryfast',
  });
}

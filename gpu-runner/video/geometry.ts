/**
 * The working size of an edit (method.md §3.1): resize so the short side is `size`, then center-crop each side
 * down to a multiple of 64 (or to size x size with `square`). Pure arithmetic; decode.ts and mask.ts turn it into
 * ffmpeg filters so both land on exactly the same pixels.
 */

/** Latent grids are 1/8 of the image and the UNet halves them three times: sides must divide by 64. */
export const WORKING_SIZE_MULTIPLE = 64;

export interface CropBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface WorkingGeometry {
  /** Source size as displayed (rotation applied). */
  readonly sourceWidth: number;
  readonly sourceHeight: number;
  /** Size after resizing the short side to `size`. */
  readonly scaledWidth: number;
  readonly scaledHeight: number;
  /** The centered crop out of the scaled picture; its size is the working size. */
  readonly crop: CropBox;
}

export interface WorkingGeometryOptions {
  /** Short side after resizing, a positive multiple of 64. */
  readonly size: number;
  /** Crop to size x size instead of keeping the aspect ratio. @default false */
  readonly square?: boolean;
}

/**
 * Computes resize and crop for a `sourceWidth` x `sourceHeight` picture.
 * @throws RangeError when `size` is not a positive multiple of 64 or the source size is not positive.
 * @example workingGeometry(854, 480, { size: 512 }) // scaled 911x512, crop { x: 7, y: 0, width: 896, height: 512 }
 */
export function workingGeometry(sourceWidth: number, sourceHeight: number, options: WorkingGeometryOptions): WorkingGeometry {
  const { size, square = false } = options;
  if (!Number.isInteger(size) || size <= 0 || size % WORKING_SIZE_MULTIPLE !== 0) {
    throw new RangeError(`size must be a positive multiple of ${WORKING_SIZE_MULTIPLE}, got ${size}. Try ${Math.max(1, Math.round(size / 64)) * 64}.`);
  }
  if (!(sourceWidth > 0 && sourceHeight > 0)) {
    throw new RangeError(`The source size must be positive, got ${sourceWidth}x${sourceHeight}.`);
  }
  const landscape = sourceWidth >= sourceHeight;
  const longSide = Math.max(size, Math.round((Math.max(sourceWidth, sourceHeight) * size) / Math.min(sourceWidth, sourceHeight)));
  const scaledWidth = landscape ? longSide : size;
  const scaledHeight = landscape ? size : longSide;
  const cropWidth = square ? size : floorToMultiple(scaledWidth);
  const cropHeight = square ? size : floorToMultiple(scaledHeight);
  return {
    sourceWidth,
    sourceHeight,
    scaledWidth,
    scaledHeight,
    crop: {
      x: Math.floor((scaledWidth - cropWidth) / 2),
      y: Math.floor((scaledHeight - cropHeight) / 2),
      width: cropWidth,
      height: cropHeight,
    },
  };
}

function floorToMultiple(value: number): number {
  return Math.floor(value / WORKING_SIZE_MULTIPLE) * WORKING_SIZE_MULTIPLE;
}

/**
 * The ffmpeg filter chain that applies `geometry` (rotation is already applied by ffmpeg's autorotate).
 * Downscaling uses area averaging so 4K input does not alias; upscaling uses bicubic.
 */
export function geometryFilter(geometry: WorkingGeometry): string {
  const { scaledWidth, scaledHeight, crop } = geometry;
  const flags = scaledWidth < geometry.sourceWidth ? 'area' : 'bicubic';
  return `scale=${scaledWidth}:${scaledHeight}:flags=${flags},setsar=1,crop=${crop.width}:${crop.height}:${crop.x}:${crop.y}`;
}

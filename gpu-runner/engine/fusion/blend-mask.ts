/**
 * FateZero's spatial blend mask (reference-algorithms.md §2.4 "Blend mask"): where the blend words of the source
 * prompt attend, the edit keeps its own self-attention; elsewhere it takes the source's. Also the soft saliency
 * that object-centric sampling's `auto` mask starts from (method.md §5).
 */

/** One recorded cross-attention map [frames, heads, h*w, keys]. */
export interface CrossMap {
  readonly data: Float32Array;
  readonly frames: number;
  readonly heads: number;
  readonly height: number;
  readonly width: number;
  /** key tokens per row (77) */
  readonly keys: number;
}

/**
 * Blend-word attention [frames, h*w]: the maps' probabilities summed over the given token positions, averaged over
 * heads and layers. All maps must share one grid.
 * @throws when no maps are given or the grids differ
 */
export function wordAttention(maps: readonly CrossMap[], tokenPositions: readonly number[]): { data: Float32Array; frames: number; height: number; width: number } {
  if (maps.length === 0) throw new Error('wordAttention: no cross-attention maps were recorded at the blend level; the model needs cross-attention below its highest level.');
  const { frames, height, width } = maps[0];
  const hw = height * width;
  const out = new Float32Array(frames * hw);
  let layersTimesHeads = 0;
  for (const map of maps) {
    if (map.frames !== frames || map.height !== height || map.width !== width) {
      throw new Error(`wordAttention: maps must share one grid; got ${map.frames}x${map.height}x${map.width} and ${frames}x${height}x${width}.`);
    }
    layersTimesHeads += map.heads;
    for (let f = 0; f < frames; f++) {
      for (let h = 0; h < map.heads; h++) {
        const base = (f * map.heads + h) * hw * map.keys;
        for (let q = 0; q < hw; q++) {
          let s = 0;
          for (const t of tokenPositions) s += map.data[base + q * map.keys + t];
          out[f * hw + q] += s;
        }
      }
    }
  }
  for (let i = 0; i < out.length; i++) out[i] /= layersTimesHeads;
  return { data: out, frames, height, width };
}

/** 3x3 max pooling, stride 1, padding 1 (padding never wins), per frame. */
export function maxPool3x3(data: Float32Array, frames: number, height: number, width: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let m = -Infinity;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy, xx = x + dx;
            if (yy >= 0 && yy < height && xx >= 0 && xx < width) m = Math.max(m, data[(f * height + yy) * width + xx]);
          }
        }
        out[(f * height + y) * width + x] = m;
      }
    }
  }
  return out;
}

/** Nearest resize as PyTorch's `interpolate(mode='nearest')`: source index floor(dst * in / out). */
export function resizeNearest(data: Float32Array, frames: number, height: number, width: number, outHeight: number, outWidth: number): Float32Array {
  const out = new Float32Array(frames * outHeight * outWidth);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < outHeight; y++) {
      const sy = Math.min(height - 1, Math.floor((y * height) / outHeight));
      for (let x = 0; x < outWidth; x++) {
        const sx = Math.min(width - 1, Math.floor((x * width) / outWidth));
        out[(f * outHeight + y) * outWidth + x] = data[(f * height + sy) * width + sx];
      }
    }
  }
  return out;
}

/** Divides each frame by its maximum (frames whose maximum is 0 stay 0). */
export function normalizePerFrame(data: Float32Array, frames: number): Float32Array {
  const per = data.length / frames;
  const out = new Float32Array(data.length);
  for (let f = 0; f < frames; f++) {
    let m = 0;
    for (let i = 0; i < per; i++) m = Math.max(m, data[f * per + i]);
    for (let i = 0; i < per; i++) out[f * per + i] = m > 0 ? data[f * per + i] / m : 0;
  }
  return out;
}

/**
 * The blend mask at one self-attention layer's grid: 1 where the edit keeps its own self-attention.
 * word attention -> 3x3 max-pool -> nearest resize to (outHeight, outWidth) -> / per-frame max -> > threshold.
 * @returns [frames, outHeight * outWidth] of 0/1
 */
export function blendMask(maps: readonly CrossMap[], tokenPositions: readonly number[], outHeight: number, outWidth: number, threshold: number): Float32Array {
  const attention = wordAttention(maps, tokenPositions);
  const pooled = maxPool3x3(attention.data, attention.frames, attention.height, attention.width);
  const resized = resizeNearest(pooled, attention.frames, attention.height, attention.width, outHeight, outWidth);
  const normalized = normalizePerFrame(resized, attention.frames);
  return Float32Array.from(normalized, (v) => (v > threshold ? 1 : 0));
}

/**
 * Object-centric sampling helpers (method.md §5): saliency masks at latent resolution, the foreground box,
 * crop/paste of latents and attention maps, and the feathered blend. Pure TypeScript over typed arrays; latents
 * are [frames, channels, height, width], masks [frames, height, width] in [0, 1].
 */

/** A rectangle in latent pixels. */
export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** The grid a mask video is pooled from (pixels) and to (latent pixels). */
export interface MaskGrid {
  frames: number;
  height: number;
  width: number;
  latentHeight: number;
  latentWidth: number;
}

/** Latent-grid alignment of the box: three UNet downsamplings need multiples of 8 latent pixels. */
export const BOX_MULTIPLE = 8;

/** A mask video's frames [F, H, W] at latent resolution: pooled, thresholded at half and dilated by `radius`. */
export function latentMaskFromVideo(mask: Float32Array, grid: MaskGrid, radius: number): Float32Array {
  const pooled = poolMask(mask, grid.frames, grid.height, grid.width, grid.latentHeight, grid.latentWidth);
  return dilate(threshold(pooled, 0.5), grid.frames, grid.latentHeight, grid.latentWidth, radius);
}

/** Average-pools [frames, H, W] values to [frames, h, w] (H, W multiples of h, w; else nearest-area). */
export function poolMask(values: Float32Array, frames: number, height: number, width: number, outHeight: number, outWidth: number): Float32Array {
  const out = new Float32Array(frames * outHeight * outWidth);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < outHeight; y++) {
      const y0 = Math.floor((y * height) / outHeight), y1 = Math.max(y0 + 1, Math.floor(((y + 1) * height) / outHeight));
      for (let x = 0; x < outWidth; x++) {
        const x0 = Math.floor((x * width) / outWidth), x1 = Math.max(x0 + 1, Math.floor(((x + 1) * width) / outWidth));
        let s = 0;
        for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) s += values[(f * height + yy) * width + xx];
        out[(f * outHeight + y) * outWidth + x] = s / ((y1 - y0) * (x1 - x0));
      }
    }
  }
  return out;
}

/** 1 where value > threshold, else 0. */
export function threshold(values: Float32Array, level: number): Float32Array {
  return Float32Array.from(values, (v) => (v > level ? 1 : 0));
}

/** Square (Chebyshev) dilation by `radius` pixels, per frame: max over a (2r+1)^2 window. */
export function dilate(mask: Float32Array, frames: number, height: number, width: number, radius: number): Float32Array {
  if (radius <= 0) return Float32Array.from(mask);
  const out = new Float32Array(mask.length);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let m = 0;
        for (let yy = Math.max(0, y - radius); yy <= Math.min(height - 1, y + radius); yy++) {
          for (let xx = Math.max(0, x - radius); xx <= Math.min(width - 1, x + radius); xx++) m = Math.max(m, mask[(f * height + yy) * width + xx]);
        }
        out[(f * height + y) * width + x] = m;
      }
    }
  }
  return out;
}

/** Box blur with radius r (per frame, edge-clamped window) to feather the blend edge. r = 0 is the identity. */
export function feather(mask: Float32Array, frames: number, height: number, width: number, radius: number): Float32Array {
  if (radius <= 0) return Float32Array.from(mask);
  const out = new Float32Array(mask.length);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let s = 0, n = 0;
        for (let yy = Math.max(0, y - radius); yy <= Math.min(height - 1, y + radius); yy++) {
          for (let xx = Math.max(0, x - radius); xx <= Math.min(width - 1, x + radius); xx++) { s += mask[(f * height + yy) * width + xx]; n++; }
        }
        out[(f * height + y) * width + x] = s / n;
      }
    }
  }
  return out;
}

/**
 * Rescales each frame to [0, 1] between its own minimum and maximum (a flat frame becomes 0) [ours]. Attention to a
 * word never reaches 0 (softmax), so dividing by the maximum alone leaves a weakly peaked map above any threshold
 * everywhere; measured from the minimum, the threshold cuts the peak out of its own background.
 */
export function rangeNormalize(values: Float32Array, frames: number): Float32Array {
  const per = values.length / frames;
  const out = new Float32Array(values.length);
  for (let f = 0; f < frames; f++) {
    let lo = Infinity, hi = -Infinity;
    for (let i = f * per; i < (f + 1) * per; i++) { lo = Math.min(lo, values[i]); hi = Math.max(hi, values[i]); }
    const span = hi - lo;
    for (let i = f * per; i < (f + 1) * per; i++) out[i] = span > 0 ? (values[i] - lo) / span : 0;
  }
  return out;
}

/**
 * Rescales each frame so that its mean maps to 0 and its maximum to 1, clamping what is below the mean to 0 (a flat
 * frame becomes 0) [ours]. The mean is the level of a typical pixel: a threshold then keeps what stands out above
 * it, where the minimum (`rangeNormalize`) would let one low outlier pull most of the frame above the threshold.
 */
export function aboveMeanNormalize(values: Float32Array, frames: number): Float32Array {
  const per = values.length / frames;
  const out = new Float32Array(values.length);
  for (let f = 0; f < frames; f++) {
    let sum = 0, hi = -Infinity;
    for (let i = f * per; i < (f + 1) * per; i++) { sum += values[i]; hi = Math.max(hi, values[i]); }
    const mean = sum / per;
    for (let i = f * per; i < (f + 1) * per; i++) out[i] = hi > mean ? Math.max(0, (values[i] - mean) / (hi - mean)) : 0;
  }
  return out;
}

/**
 * The `auto` saliency mask from the saliency words' attention share (saliency-attention.ts) already at latent
 * resolution [frames, h, w]: normalized above each frame's mean, thresholded, dilated by `radius` latent pixels
 * (method.md §5) [ours].
 */
export function attentionSaliency(attention: Float32Array, frames: number, height: number, width: number, level: number, radius: number): Float32Array {
  return dilate(threshold(aboveMeanNormalize(attention, frames), level), frames, height, width, radius);
}

/** Fraction of mask pixels that are > 0.5 (the report's mask area). */
export function maskArea(mask: Float32Array): number {
  let n = 0;
  for (const v of mask) if (v > 0.5) n++;
  return mask.length === 0 ? 0 : n / mask.length;
}

/**
 * The foreground box [ours]: the union bounding box of mask > 0.5 over all frames, padded by `pad`; its size is
 * rounded up to a multiple of `multiple` (three UNet downsamplings need it) and it is centred on the mask and
 * clamped inside the latent. Its position is any whole latent pixel: coarser levels floor it (see boxAtLevel).
 * Null when the mask is empty.
 */
export function foregroundBox(mask: Float32Array, frames: number, height: number, width: number, pad = 0, multiple = BOX_MULTIPLE): Box | null {
  let minY = Infinity, maxY = -1, minX = Infinity, maxX = -1;
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (mask[(f * height + y) * width + x] > 0.5) {
          minY = Math.min(minY, y); maxY = Math.max(maxY, y);
          minX = Math.min(minX, x); maxX = Math.max(maxX, x);
        }
      }
    }
  }
  if (maxY < 0) return null;
  const place = (lo: number, hi: number, limit: number): [number, number] => {
    const from = Math.max(0, lo - pad);
    const to = Math.min(limit, hi + 1 + pad);
    const size = Math.min(limit, Math.ceil((to - from) / multiple) * multiple);
    const start = Math.min(Math.max(0, from - Math.floor((size - (to - from)) / 2)), limit - size);
    return [start, size];
  };
  const [top, boxHeight] = place(minY, maxY, height);
  const [left, boxWidth] = place(minX, maxX, width);
  return { top, left, height: boxHeight, width: boxWidth };
}

/** True when the box is the whole latent. */
export function isFullFrame(box: Box, height: number, width: number): boolean {
  return box.top === 0 && box.left === 0 && box.height === height && box.width === width;
}

/** Crops [frames, channels, H, W] to the box: [frames, channels, box.height, box.width]. */
export function cropLatent(latent: Float32Array, frames: number, channels: number, height: number, width: number, box: Box): Float32Array {
  const out = new Float32Array(frames * channels * box.height * box.width);
  let o = 0;
  for (let fc = 0; fc < frames * channels; fc++) {
    for (let y = 0; y < box.height; y++) {
      const start = (fc * height + box.top + y) * width + box.left;
      out.set(latent.subarray(start, start + box.width), o);
      o += box.width;
    }
  }
  return out;
}

/** Writes a crop back into a copy of the full latent. */
export function pasteLatent(full: Float32Array, crop: Float32Array, frames: number, channels: number, height: number, width: number, box: Box): Float32Array {
  const out = Float32Array.from(full);
  let o = 0;
  for (let fc = 0; fc < frames * channels; fc++) {
    for (let y = 0; y < box.height; y++) {
      out.set(crop.subarray(o, o + box.width), (fc * height + box.top + y) * width + box.left);
      o += box.width;
    }
  }
  return out;
}

/**
 * z = m * foreground + (1 - m) * background, with m [frames, H, W] broadcast over channels.
 */
export function blendLatents(foreground: Float32Array, background: Float32Array, mask: Float32Array, frames: number, channels: number, height: number, width: number): Float32Array {
  const out = new Float32Array(background.length);
  const hw = height * width;
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      const base = (f * channels + c) * hw;
      for (let i = 0; i < hw; i++) {
        const m = mask[f * hw + i];
        out[base + i] = m * foreground[base + i] + (1 - m) * background[base + i];
      }
    }
  }
  return out;
}

/**
 * The box at a coarser UNet level (latent / 2^level): the size divides exactly (a multiple of 8), the position is
 * floored, so a crop token maps to the full-grid token it overlaps most [ours].
 */
export function boxAtLevel(box: Box, level: number): Box {
  const s = 2 ** level;
  return { top: Math.floor(box.top / s), left: Math.floor(box.left / s), height: box.height / s, width: box.width / s };
}

/** Token indices (row-major) of the box inside an h x w grid. */
export function boxTokens(box: Box, width: number): Int32Array {
  const out = new Int32Array(box.height * box.width);
  let k = 0;
  for (let y = 0; y < box.height; y++) for (let x = 0; x < box.width; x++) out[k++] = (box.top + y) * width + box.left + x;
  return out;
}

/**
 * Restricts a stored attention map [B, heads, Q, K] to the crop: query rows inside the box, and (for
 * self-attention) key columns inside the box, renormalized so each row sums to 1 again [ours].
 * @param keyGrid the key tokens' grid width when keys are spatial (self-attention), or null for text keys
 */
export function restrictMap(map: Float32Array, batch: number, heads: number, queryWidth: number, keys: number, box: Box, keyGrid: { width: number } | null): Float32Array {
  const rows = boxTokens(box, queryWidth);
  const cols = keyGrid ? boxTokens(box, keyGrid.width) : null;
  const q = map.length / (batch * heads * keys);
  const outKeys = cols ? cols.length : keys;
  const out = new Float32Array(batch * heads * rows.length * outKeys);
  let o = 0;
  for (let bh = 0; bh < batch * heads; bh++) {
    for (const r of rows) {
      const base = (bh * q + r) * keys;
      if (!cols) {
        out.set(map.subarray(base, base + keys), o);
        o += keys;
        continue;
      }
      let s = 0;
      for (const c of cols) s += map[base + c];
      for (const c of cols) out[o++] = s > 0 ? map[base + c] / s : 1 / cols.length;
    }
  }
  return out;
}

/**
 * The decoupled phase's schedule: K = round(gamma * N) steps, and for the `coarse` background the
 * ceil(phi * K) of them it runs on, spread evenly over 0..K-1 (always including step 0).
 */
export function decoupledSchedule(steps: number, gamma: number, phi: number): { decoupledSteps: number; backgroundSteps: number[] } {
  const K = Math.round(gamma * steps);
  if (K === 0) return { decoupledSteps: 0, backgroundSteps: [] };
  const count = Math.min(K, Math.max(1, Math.ceil(phi * K)));
  const picked = new Set<number>();
  for (let i = 0; i < count; i++) picked.add(Math.floor((i * K) / count));
  return { decoupledSteps: K, backgroundSteps: [...picked].sort((a, b) => a - b) };
}

/**
 * Like `restrictMap` for self-attention maps whose rows/columns may be token-merged: `rowsOf(f)` / `colsOf(f)` give,
 * for frame f, the merged row (column) each of the h*w tokens reads (null: not merged). The crop's rows and key
 * columns are gathered through them and each row is renormalized over the crop's keys [ours].
 * @param map [F, heads, Q, K] (Q, K merged counts or h*w)
 * @returns [F, heads, box tokens, box tokens]
 */
export function restrictMapVia(map: Float32Array, frames: number, heads: number, queries: number, keys: number, box: Box, width: number, rowsOf: (f: number) => Int32Array | null, colsOf: (f: number) => Int32Array | null): Float32Array {
  const tokens = boxTokens(box, width);
  const n = tokens.length;
  const out = new Float32Array(frames * heads * n * n);
  let o = 0;
  for (let f = 0; f < frames; f++) {
    const rows = rowsOf(f), cols = colsOf(f);
    const rowIdx = Int32Array.from(tokens, (t) => (rows ? rows[t] : t));
    const colIdx = Int32Array.from(tokens, (t) => (cols ? cols[t] : t));
    for (let h = 0; h < heads; h++) {
      for (const r of rowIdx) {
        const base = ((f * heads + h) * queries + r) * keys;
        let s = 0;
        for (const c of colIdx) s += map[base + c];
        for (const c of colIdx) out[o++] = s > 0 ? map[base + c] / s : 1 / n;
      }
    }
  }
  return out;
}

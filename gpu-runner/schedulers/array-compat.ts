/**
 * The exact numpy/torch array recipes that diffusers uses to build timesteps and betas. Timesteps are integers
 * chosen by rounding, so a one-ulp difference in these helpers would move a timestep; they follow the upstream
 * arithmetic operation by operation.
 */

/** numpy's `round`: halves go to the even neighbour (`np.round(0.5) = 0`, `np.round(2.5) = 2`). */
export function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** `np.linspace(start, stop, num)` in float64: `i * ((stop - start) / (num - 1)) + start`, last entry = stop. */
export function numpyLinspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const values = Array.from({ length: num }, (_, i) => i * step + start);
  values[num - 1] = stop;
  return values;
}

/**
 * `np.arange(start, stop, step)` for float64: numpy fills `start + i * delta` where delta is recomputed as
 * `(start + step) - start`, which differs from `step` by rounding when step is not representable.
 */
export function numpyArange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  if (length === 0) return [];
  const delta = start + step - start;
  return Array.from({ length }, (_, i) => (i === 0 ? start : start + i * delta));
}

/**
 * `torch.linspace(start, end, steps, dtype=torch.float32)` as torch's CPU kernel computes it: float32 step,
 * 8-lane vector chunks (AVX2), each chunk anchored at `start` below the halfway index and at `end` above it, each
 * lane `anchor + lane * step` with a fused multiply-add. This reproduces SD's stored betas bit for bit.
 */
export function torchLinspaceFloat32(start: number, end: number, steps: number): Float32Array {
  const f32 = Math.fround;
  const lanes = 8;
  const first = f32(start);
  const last = f32(end);
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = first;
    return out;
  }
  const step = f32(f32(last - first) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let chunk = 0; chunk < steps; chunk += lanes) {
    // A float32 times a small integer is exact in float64, so one final rounding emulates the FMA.
    const anchor = chunk < halfway ? f32(first + step * chunk) : f32(last - step * (steps - chunk - 1));
    for (let lane = 0; lane < lanes && chunk + lane < steps; lane++) out[chunk + lane] = f32(anchor + lane * step);
  }
  return out;
}

import type { GraphBuilder, ValueRef } from '../../graph/builder.ts';

export interface TimestepProjection {
  /** Embedding width (block_out_channels[0] in SD). */
  readonly channels: number;
  /** Put cos before sin (SD: true). */
  readonly flipSinToCos: boolean;
  /** Frequency shift in the exponent's denominator (SD: 0, so the denominator is channels/2). */
  readonly freqShift: number;
  /** @default 10000 */
  readonly maxPeriod?: number;
}

/**
 * Sinusoidal timestep projection (DDPM positional embedding; diffusers `get_timestep_embedding`).
 * `timestep` may be int64 or float32, 0-dim or [B]; it is broadcast to the batch of `batchOf` (dim 0).
 * Frequencies are computed here in float32 steps like torch: exp(-ln(maxPeriod)·i / (half - freqShift)).
 * @returns [B, channels]
 */
export function timestepProjection(g: GraphBuilder, timestep: ValueRef, batchOf: ValueRef, options: TimestepProjection): ValueRef {
  const half = Math.floor(options.channels / 2);
  const logPeriod = Math.fround(-Math.log(options.maxPeriod ?? 10000));
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const exponent = Math.fround(Math.fround(logPeriod * i) / (half - options.freqShift));
    freqs[i] = Math.exp(exponent);
  }
  const batch = g.slice(g.shape(batchOf), [0], [1], [0]); // [1] = B
  const t = g.expand(g.reshape(g.cast(timestep, 'float32'), [-1]), batch); // [B]
  const args = g.mul(g.unsqueeze(t, [1]), g.constFloat(freqs, [1, half])); // [B, half]
  const sin = g.sin(args);
  const cos = g.cos(args);
  const parts = options.flipSinToCos ? [cos, sin] : [sin, cos];
  let emb = g.concat(parts, 1); // [B, 2·half]
  if (options.channels % 2 === 1) emb = g.pad(emb, [0, 0, 0, 1]); // odd widths get a zero column
  return emb; // [B, channels]
}

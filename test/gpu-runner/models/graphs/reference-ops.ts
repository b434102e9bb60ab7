/**
 * Plain TypeScript reference implementations (loops over Float32Array, float64 accumulation) of the layers the
 * graph blocks build. Written from the PyTorch definitions, independently of the graph code, for block tests.
 */
import type { WeightSource } from '../../../../gpu-runner/models/weights.ts';

/** Seeded uniform(-scale, scale) values (mulberry32). */
export function randomValues(n: number, seed: number, scale = 1): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  });
}

/** In-memory WeightSource that invents seeded values for whatever is asked and keeps them for the reference. */
export class MemoryWeights implements WeightSource {
  readonly origin = 'memory';
  readonly tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  private seed = 1;
  has(name: string): boolean { return this.tensors.has(name); }
  shape(name: string): number[] | undefined { return this.tensors.get(name)?.shape; }
  names(): string[] { return [...this.tensors.keys()]; }
  get(name: string, shape: readonly number[]): Float32Array {
    let t = this.tensors.get(name);
    if (!t) {
      const n = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape.length > 1 ? n / shape[0] : 1;
      const isNormWeight = /norm.*\.weight$/.test(name);
      const data = randomValues(n, this.seed++, isNormWeight ? 0.2 : 1 / Math.sqrt(fanIn));
      if (isNormWeight) for (let i = 0; i < n; i++) data[i] += 1;
      t = { shape: [...shape], data };
      this.tensors.set(name, t);
    }
    return t.data;
  }
  /** The value of a tensor the graph builder requested. */
  w(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`reference asked for ${name}, which the builder never requested`);
    return t.data;
  }
}

/** y[m, o] = Σ_i x[m, i]·W[o, i] + b[o]. */
export function linear(x: Float32Array, inF: number, outF: number, w: Float32Array, b?: Float32Array): Float32Array {
  const rows = x.length / inF;
  const y = new Float32Array(rows * outF);
  for (let m = 0; m < rows; m++) {
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) s += x[m * inF + i] * w[o * inF + i];
      y[m * outF + o] = s;
    }
  }
  return y;
}

/** NCHW convolution, weight [Cout, Cin, k, k], pads [top, left, bottom, right]. Returns data and output size. */
export function conv2d(x: Float32Array, b: number, cin: number, h: number, wd: number, weight: Float32Array, bias: Float32Array, cout: number, k: number, stride: number, pads: [number, number, number, number]) {
  const [pt, pl, pb, pr] = pads;
  const oh = Math.floor((h + pt + pb - k) / stride) + 1;
  const ow = Math.floor((wd + pl + pr - k) / stride) + 1;
  const y = new Float32Array(b * cout * oh * ow);
  for (let n = 0; n < b; n++) for (let co = 0; co < cout; co++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    let s = bias[co];
    for (let ci = 0; ci < cin; ci++) for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
      const iy = oy * stride + ky - pt;
      const ix = ox * stride + kx - pl;
      if (iy < 0 || ix < 0 || iy >= h || ix >= wd) continue;
      s += x[((n * cin + ci) * h + iy) * wd + ix] * weight[((co * cin + ci) * k + ky) * k + kx];
    }
    y[((n * cout + co) * oh + oy) * ow + ox] = s;
  }
  return { y, oh, ow };
}

/** GroupNorm over [B, C, S] (S = spatial size), per-channel affine. */
export function groupNorm(x: Float32Array, b: number, c: number, s: number, groups: number, eps: number, gamma: Float32Array, beta: Float32Array): Float32Array {
  const y = new Float32Array(x.length);
  const per = (c / groups) * s;
  for (let n = 0; n < b; n++) for (let gi = 0; gi < groups; gi++) {
    const start = (n * c + gi * (c / groups)) * s;
    let mean = 0;
    for (let i = 0; i < per; i++) mean += x[start + i];
    mean /= per;
    let v = 0;
    for (let i = 0; i < per; i++) v += (x[start + i] - mean) ** 2;
    v /= per;
    for (let i = 0; i < per; i++) {
      const ch = gi * (c / groups) + Math.floor(i / s);
      y[start + i] = ((x[start + i] - mean) / Math.sqrt(v + eps)) * gamma[ch] + beta[ch];
    }
  }
  return y;
}

export function layerNorm(x: Float32Array, c: number, eps: number, gamma: Float32Array, beta: Float32Array): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / c; r++) {
    let mean = 0;
    for (let i = 0; i < c; i++) mean += x[r * c + i];
    mean /= c;
    let v = 0;
    for (let i = 0; i < c; i++) v += (x[r * c + i] - mean) ** 2;
    v /= c;
    for (let i = 0; i < c; i++) y[r * c + i] = ((x[r * c + i] - mean) / Math.sqrt(v + eps)) * gamma[i] + beta[i];
  }
  return y;
}

/** erf by its Maclaurin series (|x| < 3) or continued fraction tail; accurate to ~1e-12 in our range. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax > 5) return Math.sign(x);
  let sum = 0, term = ax;
  for (let n = 0; n < 200; n++) {
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17) break;
    term *= (-ax * ax) / (n + 1);
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
}

export const map = (x: Float32Array, f: (v: number) => number) => Float32Array.from(x, f);
export const silu = (v: number) => v / (1 + Math.exp(-v));
export const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
export const quickGelu = (v: number) => v / (1 + Math.exp(-1.702 * v));
export const add = (a: Float32Array, b: Float32Array) => Float32Array.from(a, (v, i) => v + b[i]);

/** Multi-head attention: q [B, Q, C]; k, v [B, K, C]; optional additive mask [Q, K]. */
export function attention(q: Float32Array, k: Float32Array, v: Float32Array, b: number, nq: number, nk: number, c: number, heads: number, mask?: Float32Array): Float32Array {
  const d = c / heads;
  const out = new Float32Array(b * nq * c);
  const scores = new Float64Array(nk);
  for (let n = 0; n < b; n++) for (let hh = 0; hh < heads; hh++) for (let i = 0; i < nq; i++) {
    let max = -Infinity;
    for (let j = 0; j < nk; j++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += q[(n * nq + i) * c + hh * d + e] * k[(n * nk + j) * c + hh * d + e];
      s = s / Math.sqrt(d) + (mask ? mask[i * nk + j] : 0);
      scores[j] = s;
      if (s > max) max = s;
    }
    let z = 0;
    for (let j = 0; j < nk; j++) { scores[j] = Math.exp(scores[j] - max); z += scores[j]; }
    for (let e = 0; e < d; e++) {
      let s = 0;
      for (let j = 0; j < nk; j++) s += (scores[j] / z) * v[(n * nk + j) * c + hh * d + e];
      out[(n * nq + i) * c + hh * d + e] = s;
    }
  }
  return out;
}

/** [B, C, S] <-> [B, S, C]. */
export function channelsLast(x: Float32Array, b: number, c: number, s: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let n = 0; n < b; n++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < s; i++) y[(n * s + i) * c + ch] = x[(n * c + ch) * s + i];
  return y;
}
export function channelsFirst(x: Float32Array, b: number, c: number, s: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let n = 0; n < b; n++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < s; i++) y[(n * c + ch) * s + i] = x[(n * s + i) * c + ch];
  return y;
}

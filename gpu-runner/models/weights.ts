/**
 * Weight sources: what graph builders read parameters from.
 *
 * `SafetensorsWeightSource` serves one component's safetensors file (fp32 or fp16 variant), mapping the
 * legacy VAE attention names diffusers still loads (`query/key/value/proj_attn`) onto the current ones.
 * `RecordingRandomWeightSource` invents seeded random parameters for any name asked for and remembers
 * what was asked, which is how a builder's parameter list can be enumerated without a checkpoint.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, elementCount, type TensorInfo } from './safetensors.ts';

/** A model folder or weight file that cannot be used; the message names the file and tensor. */
export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

/** Read access to named float32 parameters. */
export interface WeightSource {
  /** For error messages (file path). */
  readonly origin: string;
  has(name: string): boolean;
  /** Shape from the header only, or undefined when absent. */
  shape(name: string): number[] | undefined;
  names(): string[];
  /** float32 data checked against `shape`; throws ModelLoadError naming file, tensor, expected vs found. */
  get(name: string, shape: readonly number[]): Float32Array;
}

/** Which weight file of a component to load. `auto` prefers fp32 and falls back to `.fp16`. */
export type WeightVariant = 'auto' | 'fp32' | 'fp16';
export const WEIGHT_VARIANTS: readonly WeightVariant[] = ['auto', 'fp32', 'fp16'];

/** Buffers some checkpoints carry that are not parameters (transformers ignores them on load). */
const IGNORED_BUFFER = /(^|\.)position_ids$/;

/** Old diffusers VAE attention names -> current names (diffusers renames these at load time). */
const LEGACY_ATTENTION = /^(.*\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$/;
const LEGACY_TO_CURRENT: Readonly<Record<string, string>> = Object.freeze({
  query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0',
});

function formatShape(shape: readonly number[] | undefined): string {
  return shape ? `[${shape.join(', ')}]` : 'absent';
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A stored [out, in, 1, 1] 1x1-conv weight may serve a requested [out, in] linear weight. */
function isSqueezable(stored: readonly number[], requested: readonly number[]): boolean {
  return requested.length === 2 && stored.length === 4 && stored[2] === 1 && stored[3] === 1
    && stored[0] === requested[0] && stored[1] === requested[1];
}

/**
 * Parameters from one safetensors file.
 *
 * @example
 *   const weights = new SafetensorsWeightSource('vae/diffusion_pytorch_model.safetensors');
 *   weights.get('decoder.conv_in.weight', [512, 4, 3, 3]);
 */
export class SafetensorsWeightSource implements WeightSource {
  readonly origin: string;
  private readonly file: SafetensorsFile;
  /** current name -> stored name, for legacy-named tensors */
  private readonly aliases = new Map<string, string>();
  private readonly parameterNames: string[];

  constructor(path: string) {
    this.origin = path;
    try {
      this.file = SafetensorsFile.open(path);
    } catch (error) {
      throw new ModelLoadError(`cannot read weights ${path}: ${(error as Error).message}`);
    }
    this.parameterNames = [];
    for (const stored of this.file.names()) {
      if (IGNORED_BUFFER.test(stored)) continue;
      const legacy = LEGACY_ATTENTION.exec(stored);
      const name = legacy ? `${legacy[1]}.${LEGACY_TO_CURRENT[legacy[2]]}.${legacy[3]}` : stored;
      if (legacy) this.aliases.set(name, stored);
      this.parameterNames.push(name);
    }
  }

  has(name: string): boolean {
    return this.storedInfo(name) !== undefined;
  }

  shape(name: string): number[] | undefined {
    const info = this.storedInfo(name);
    return info ? [...info.shape] : undefined;
  }

  names(): string[] {
    return [...this.parameterNames];
  }

  get(name: string, shape: readonly number[]): Float32Array {
    const info = this.storedInfo(name);
    if (!info) {
      throw new ModelLoadError(`${this.origin}: missing tensor '${name}' (expected shape ${formatShape(shape)}); `
        + 'the file does not match the component config (wrong model folder, or a config edited without its weights)');
    }
    if (!sameShape(info.shape, shape) && !isSqueezable(info.shape, shape)) {
      throw new ModelLoadError(`${this.origin}: tensor '${name}' has shape ${formatShape(info.shape)} but the config expects ${formatShape(shape)}; `
        + 'check that config.json belongs to these weights');
    }
    try {
      return this.file.readFloat32(this.aliases.get(name) ?? name);
    } catch (error) {
      throw new ModelLoadError(`${this.origin}: cannot read tensor '${name}': ${(error as Error).message}`);
    }
  }

  /** Closes the file handle. */
  dispose(): void {
    this.file.close();
  }

  private storedInfo(name: string): TensorInfo | undefined {
    return this.file.info(this.aliases.get(name) ?? name);
  }
}

/** Weight file stems diffusers and transformers use, in lookup order. */
const WEIGHT_STEMS = ['diffusion_pytorch_model', 'model'] as const;

/**
 * Picks the weight file of a component folder (`unet/`, `vae/`, `text_encoder/`).
 *
 * @param variant `fp32` wants `<stem>.safetensors`, `fp16` wants `<stem>.fp16.safetensors`, `auto` (default)
 *   takes fp32 when present, else fp16.
 * @throws ModelLoadError naming the folder, the files looked for and the files present.
 */
export function findWeightFile(componentDir: string, variant: WeightVariant = 'auto'): string {
  if (!WEIGHT_VARIANTS.includes(variant)) {
    throw new ModelLoadError(`unknown weight variant '${String(variant)}'; allowed: ${WEIGHT_VARIANTS.join(', ')}`);
  }
  const suffixes = variant === 'fp32' ? ['.safetensors'] : variant === 'fp16' ? ['.fp16.safetensors'] : ['.safetensors', '.fp16.safetensors'];
  const candidates = suffixes.flatMap((suffix) => WEIGHT_STEMS.map((stem) => `${stem}${suffix}`));
  for (const candidate of candidates) {
    const path = join(componentDir, candidate);
    if (existsSync(path)) return path;
  }
  const present = existsSync(componentDir) ? readdirSync(componentDir) : [];
  const hint = present.some((f) => f.endsWith('.bin') || f.endsWith('.ckpt'))
    ? ' Only PyTorch pickle weights are present: convert them to safetensors first.'
    : '';
  throw new ModelLoadError(`${componentDir}: no ${variant} weight file; looked for ${candidates.join(', ')}; `
    + `found ${present.length ? present.join(', ') : 'nothing'}.${hint}`);
}

/** Opens the weights of one component folder (see `findWeightFile` for the variant rule). */
export function openComponentWeights(componentDir: string, variant: WeightVariant = 'auto'): SafetensorsWeightSource {
  return new SafetensorsWeightSource(findWeightFile(componentDir, variant));
}

// ---------------------------------------------------------------------------------------------------------
// Seeded random parameters

/** 32-bit FNV-1a, to give every tensor name its own random stream. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** sfc32: small, fast, good enough for test weights; seeded from (seed, name) so call order does not matter. */
function uniformStream(seed: number, name: string): () => number {
  let a = seed >>> 0, b = hashName(name), c = 0x9e3779b9, d = 1;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** How a parameter is initialised, from its name (reference/README.md "Weights"). */
export interface ParameterInit {
  readonly mean: number;
  readonly std: number;
}

/**
 * Init rule: linear/conv weights N(0, 1/fan_in), biases N(0, 0.05^2), norm weights 1 + N(0, 0.1^2),
 * norm biases N(0, 0.05^2), embeddings N(0, 0.1^2).
 */
export function parameterInit(name: string, shape: readonly number[]): ParameterInit {
  const parts = name.split('.');
  const kind = parts[parts.length - 1];
  const module = parts[parts.length - 2] ?? '';
  if (kind === 'bias') return { mean: 0, std: 0.05 };
  // token_embedding / position_embedding (time_embedding's parameters sit under linear_1/linear_2)
  if (module.includes('embedding')) return { mean: 0, std: 0.1 };
  if (module.includes('norm') || shape.length < 2) return { mean: 1, std: 0.1 };
  const fanIn = elementCount(shape.slice(1));
  return { mean: 0, std: 1 / Math.sqrt(fanIn) };
}

/** Deterministic N(mean, std^2) data for one parameter (Box-Muller over a per-name stream). */
export function randomParameter(seed: number, name: string, shape: readonly number[]): Float32Array {
  const { mean, std } = parameterInit(name, shape);
  const uniform = uniformStream(seed, name);
  const out = new Float32Array(elementCount(shape));
  for (let i = 0; i < out.length; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - uniform())) * std;
    const angle = 2 * Math.PI * uniform();
    out[i] = mean + radius * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = mean + radius * Math.sin(angle);
  }
  return out;
}

/** Options of `RecordingRandomWeightSource`. */
export interface RecordingOptions {
  /**
   * Return zeros instead of random data: enumerating a graph's parameters (e.g. SD1.5 scale) then costs
   * no random generation. `randomParameter(seed, name, shape)` regenerates the data when writing.
   * @default false
   */
  readonly zeros?: boolean;
}

/**
 * A weight source that has every tensor: `get` returns seeded random data by the init rule and records
 * (name, shape) in request order, so a generator can write exactly the parameters a builder used.
 *
 * @throws ModelLoadError when one name is requested with two different shapes.
 */
export class RecordingRandomWeightSource implements WeightSource {
  readonly origin: string;
  readonly seed: number;
  private readonly zeros: boolean;
  private readonly recorded = new Map<string, readonly number[]>();

  constructor(seed: number, options: RecordingOptions = {}) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new ModelLoadError(`random weight seed must be an integer in [0, 2^32); got ${seed}`);
    }
    this.seed = seed;
    this.zeros = options.zeros ?? false;
    this.origin = `random weights (seed ${seed})`;
  }

  has(): boolean {
    return true;
  }

  shape(name: string): number[] | undefined {
    const shape = this.recorded.get(name);
    return shape ? [...shape] : undefined;
  }

  names(): string[] {
    return [...this.recorded.keys()];
  }

  /** Recorded (name, shape) pairs in first-request order. */
  entries(): Array<{ name: string; shape: number[] }> {
    return [...this.recorded].map(([name, shape]) => ({ name, shape: [...shape] }));
  }

  get(name: string, shape: readonly number[]): Float32Array {
    const previous = this.recorded.get(name);
    if (previous && !sameShape(previous, shape)) {
      throw new ModelLoadError(`${this.origin}: tensor '${name}' requested as ${formatShape(shape)} after ${formatShape(previous)}`);
    }
    this.recorded.set(name, [...shape]);
    return this.zeros ? new Float32Array(elementCount(shape)) : randomParameter(this.seed, name, shape);
  }
}

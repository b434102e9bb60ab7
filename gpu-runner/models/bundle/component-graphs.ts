/**
 * Builds (or finds in the graph cache) the ONNX graph of one model-folder component: the CLIP text
 * encoder, the plain 2-D UNet, the VAE encoder or the VAE decoder, at given spatial sizes. The cache key
 * covers the weight file, the graph options and a hash of the builders' own source, so editing a
 * builder invalidates its cached graphs without anyone remembering to bump a number.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveModel, toFloat16Compute, type GraphModel } from '../../graph/index.ts';
import { buildTextEncoderGraph } from '../clip-text/text-encoder.ts';
import { buildUNetGraph } from '../unet/unet.ts';
import { buildVAEDecoderGraph, buildVAEEncoderGraph } from '../vae/vae.ts';
import { cachedGraph, weightsFingerprint, type CachedGraph } from './graph-cache.ts';
import type { ModelFolder } from './model-folder.ts';
import type { ControlNetFolder } from './controlnet-folder.ts';
import { buildControlNetGraph } from '../controlnet/controlnet.ts';

/** Components `componentGraph` builds. */
export const COMPONENTS = ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder'] as const;
export type ComponentName = (typeof COMPONENTS)[number];

/** Graph options of one component build. */
export interface ComponentGraphOptions {
  /** Spatial size of the graph's input (image for vae_encoder, latent for unet/vae_decoder). @default - the config's */
  readonly height?: number;
  readonly width?: number;
  /** UNet timestep element type. @default 'int64' */
  readonly timestepDType?: 'int64' | 'float32';
  /** UNet frames per group (1 = plain 2-D UNet). @default 1 */
  readonly frames?: number;
  /** Weight storage in the graph. @default 'float32' */
  readonly weightStorage?: 'float32' | 'float16';
  /** UNet only: take a ControlNet's residuals as inputs. @default false */
  readonly controlResiduals?: boolean;
  /** UNet (and ControlNet): fully cross-frame self-attention over the `frames` of each group. @default false */
  readonly fullCrossFrame?: boolean;
  /** Arithmetic type: 'float16' computes in half with float32 islands (graph/float16.ts). @default 'float32' */
  readonly compute?: 'float32' | 'float16';
}

/** Source folders whose code determines the graphs' bytes. */
// The engine's graph hooks (fusion, token merging, ControlVideo's map recording) build parts of its UNet variants, so
// they are part of what a cached graph depends on.
const BUILDER_SOURCE_DIRS = ['graph', 'models/blocks', 'models/unet', 'models/vae', 'models/clip-text', 'models/controlnet', 'engine/fusion', 'engine/tome', 'engine/controlvideo'];
const GPU_RUNNER_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

let builderHash: string | undefined;

/** A hash of the graph builders' source files (computed once per process). */
export function builderVersion(): string {
  if (builderHash) return builderHash;
  const hash = createHash('sha256');
  for (const dir of BUILDER_SOURCE_DIRS) {
    const full = join(GPU_RUNNER_DIR, dir);
    let files: string[];
    try {
      files = readdirSync(full, { recursive: true }).map(String).filter((f) => f.endsWith('.ts')).sort();
    } catch {
      continue;
    }
    for (const file of files) {
      if (!statSync(join(full, file)).isFile()) continue;
      hash.update(`${dir}/${file}\u0000`).update(readFileSync(join(full, file)));
    }
  }
  builderHash = hash.digest('hex').slice(0, 16);
  return builderHash;
}

/** Builds the GraphModel of `component` from the loaded folder (not cached; see `componentGraph`). */
export function buildComponentModel(model: ModelFolder, component: ComponentName, options: ComponentGraphOptions = {}): GraphModel {
  const built = buildFloat32Model(model, component, options);
  return options.compute === 'float16' ? toFloat16Compute(built) : built;
}

function buildFloat32Model(model: ModelFolder, component: ComponentName, options: ComponentGraphOptions = {}): GraphModel {
  const size = { height: options.height, width: options.width, weightStorage: options.weightStorage };
  switch (component) {
    case 'text_encoder':
      return buildTextEncoderGraph(model.textEncoder.config, model.textEncoder.weights, { weightStorage: options.weightStorage });
    case 'unet':
      return buildUNetGraph(model.unet.config, model.unet.weights, {
        ...size, origin: join(model.unet.dir, 'config.json'), frames: options.frames ?? 1, timestepDType: options.timestepDType ?? 'int64',
        controlResiduals: options.controlResiduals ?? false, fullCrossFrame: options.fullCrossFrame ?? false,
      });
    case 'vae_encoder':
    case 'vae_decoder': {
      const build = component === 'vae_encoder' ? buildVAEEncoderGraph : buildVAEDecoderGraph;
      return build(model.vae.config, model.vae.weights, { ...size, origin: join(model.vae.dir, 'config.json') });
    }
    default:
      throw new Error(`unknown component '${String(component)}'; allowed: ${COMPONENTS.join(', ')}`);
  }
}

function weightsPathOf(model: ModelFolder, component: ComponentName): string {
  if (component === 'text_encoder') return model.textEncoder.weightsPath;
  return component === 'unet' ? model.unet.weightsPath : model.vae.weightsPath;
}

/**
 * The cached `.onnx` (with external data) of `component` for these options, building it when absent.
 *
 * @param cacheDir the cache root (graphs go under `<cacheDir>/graphs/`).
 * @example const { path } = await componentGraph(model, 'unet', cacheDir, { height: 32, width: 32 });
 */
export function componentGraph(model: ModelFolder, component: ComponentName, cacheDir: string, options: ComponentGraphOptions = {}): Promise<CachedGraph> {
  if (!(COMPONENTS as readonly string[]).includes(component)) {
    throw new Error(`unknown component '${String(component)}'; allowed: ${COMPONENTS.join(', ')}`);
  }
  const variant = JSON.stringify({
    height: options.height ?? null, width: options.width ?? null, timestepDType: options.timestepDType ?? 'int64',
    frames: options.frames ?? 1, weightStorage: options.weightStorage ?? 'float32', controlResiduals: options.controlResiduals ?? false,
    fullCrossFrame: options.fullCrossFrame ?? false,
    // only a float16 build changes the key, so existing float32 graphs stay cached
    ...(options.compute === 'float16' ? { compute: 'float16' } : {}),
  });
  const key = { component, weights: weightsFingerprint([weightsPathOf(model, component)]), builderVersion: builderVersion(), variant };
  return cachedGraph(cacheDir, key, (tmpDir) => saveModel(buildComponentModel(model, component, options), tmpDir, component));
}

/** Graph options of a ControlNet build. */
export type ControlNetGraphBuildOptions = Pick<ComponentGraphOptions, 'height' | 'width' | 'timestepDType' | 'weightStorage' | 'frames' | 'fullCrossFrame'>;

/**
 * The cached `.onnx` of a ControlNet folder's graph at a latent size, building it when absent.
 * @example const { path } = await controlNetGraph(controlnet, cacheDir, { height: 32, width: 32 });
 */
export function controlNetGraph(controlnet: ControlNetFolder, cacheDir: string, options: ControlNetGraphBuildOptions = {}): Promise<CachedGraph> {
  const variant = JSON.stringify({
    height: options.height ?? null, width: options.width ?? null, timestepDType: options.timestepDType ?? 'int64',
    weightStorage: options.weightStorage ?? 'float32', frames: options.frames ?? 1, fullCrossFrame: options.fullCrossFrame ?? false,
  });
  const key = { component: 'controlnet', weights: weightsFingerprint([controlnet.weightsPath]), builderVersion: builderVersion(), variant };
  return cachedGraph(cacheDir, key, (tmpDir) => saveModel(buildControlNetGraph(controlnet.config, controlnet.weights, {
    height: options.height, width: options.width, timestepDType: options.timestepDType, weightStorage: options.weightStorage,
    frames: options.frames, fullCrossFrame: options.fullCrossFrame, origin: join(controlnet.dir, 'config.json'),
  }), tmpDir, 'controlnet'));
}

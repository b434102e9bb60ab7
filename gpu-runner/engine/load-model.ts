/**
 * Builds an `EditModel` from a diffusers-layout folder: loads configs and weights, builds (or finds cached) ONNX
 * graphs for the text encoder, VAE and every UNet variant the pipeline asks for, and keeps their sessions warm.
 * The folder, cache folder and provider come in as arguments (style.md habit 7).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readModelIO, saveModel, toFloat16Compute } from '../graph/index.ts';
import { componentGraph, builderVersion } from '../models/bundle/component-graphs.ts';
import { cachedGraph, weightsFingerprint } from '../models/bundle/graph-cache.ts';
import { loadModelFolder, type ModelFolder } from '../models/bundle/model-folder.ts';
import { parseUNetConfig } from '../models/unet/config.ts';
import { buildUNetGraph } from '../models/unet/unet.ts';
import { chooseProvider, describeChoice } from '../runtime/provider-choice.ts';
import type { ProviderSetting } from '../runtime/providers.ts';
import { ResidentSessions, type ResidentGraph } from '../runtime/resident-sessions.ts';
import { createSession, runSession, type ModelSession } from '../runtime/session.ts';
import { float32Tensor, int64Tensor, tensorToFloat32, tensorToInt64, type TensorMap } from '../runtime/tensors.ts';
import { EngineError } from './errors.ts';
import type { ControlNetPart, EditModel, IntTensor, ModelFacts, Tensor, UNetRunner, UNetVariant } from './model.ts';
import { loadControlNetFolder, type ControlNetFolder } from '../models/bundle/controlnet-folder.ts';
import { buildControlNetGraph, controlNetOutputNames, unetResidualInputName } from '../models/controlnet/controlnet.ts';
import { conditioningScaleFactor } from '../models/controlnet/config.ts';
import { openPromptTokenizer } from './tokenizer.ts';

/** Bump when the engine's hooks change the graphs they build (part of the graph cache key). */
export const ENGINE_GRAPH_VERSION = 1;

export interface LoadEditModelOptions {
  /** A device, or 'auto' for the first of cuda, webgpu, cpu that works here (the choice is in `facts.provider`). */
  readonly provider: ProviderSetting;
  /** Cache root for built graphs. */
  readonly cacheDir: string;
  /** Threads per op. @default - onnxruntime's choice */
  readonly threads?: number;
  /** Weight storage inside graphs. @default 'float32' */
  readonly weightStorage?: 'float32' | 'float16';
  /**
   * UNet variant sessions open at once. Each open variant holds its own copy of the UNet weights (onnxruntime
   * cannot share initializers between sessions), so 1 keeps one copy: a variant opens on its first run and
   * releases the least recently used. Infinity keeps every variant warm (faster across edits, a copy each).
   * @default 1
   */
  readonly residentUNets?: number;
  /** Arithmetic of every graph: 'float16' for GPU providers (float32 islands where precision needs it). @default 'float32' */
  readonly compute?: 'float32' | 'float16';
  /**
   * Query rows per attention chunk in the UNet where no hook needs whole maps: exact attention whose score matrix
   * never exceeds chunk x keys (for 512 px: 4096 tokens a frame). @default - unchunked
   */
  readonly attentionQueryChunk?: number;
  /**
   * A diffusers ControlNetModel folder to load beside the model (the ControlVideo editor needs one); its graphs are
   * built per variant like the UNet's. @default - none (a ControlVideo edit then fails with `controlnet_missing`)
   */
  readonly controlnetDir?: string;
}

type Feed = Tensor | IntTensor;

function toOrtFeeds(feeds: Readonly<Record<string, Feed>>): TensorMap {
  const out: TensorMap = {};
  for (const [name, value] of Object.entries(feeds)) {
    out[name] = 'int64' in value ? int64Tensor(value.int64 as BigInt64Array | number[], value.dims) : float32Tensor(value.data, value.dims);
  }
  return out;
}

function fromOrt(outputs: TensorMap): Record<string, Tensor | IntTensor> {
  const out: Record<string, Tensor | IntTensor> = {};
  for (const [name, tensor] of Object.entries(outputs)) {
    const dims = tensor.dims.map(Number);
    if (tensor.type === 'float32') out[name] = { data: tensorToFloat32(tensor), dims };
    else if (tensor.type === 'int64') out[name] = { int64: tensorToInt64(tensor), dims };
  }
  return out;
}

function runnerFor(graph: ResidentGraph, meta: unknown): UNetRunner {
  // names from the file, so describing a variant does not open (and hold) its session
  const { inputNames, outputNames } = readModelIO(graph.path);
  return {
    inputNames,
    outputNames,
    meta,
    async run(feeds) {
      return fromOrt(await graph.run(toOrtFeeds(feeds)));
    },
  };
}

/**
 * Loads the model folder and prepares the text encoder; VAE and UNet graphs are built lazily per size/variant.
 * @throws EngineError('model_unavailable') when the folder cannot be loaded.
 * @example const model = await loadEditModel(modelDir, { provider: 'cpu', cacheDir });
 */
export async function loadEditModel(modelDir: string, opts: LoadEditModelOptions): Promise<EditModel> {
  let folder: ModelFolder;
  try {
    folder = loadModelFolder(modelDir);
  } catch (error) {
    throw new EngineError('model_unavailable', `Cannot load the model folder ${modelDir}: ${(error as Error).message}`, { cause: error });
  }
  let choice;
  try {
    choice = await chooseProvider(opts.provider);
  } catch (error) {
    throw new EngineError('model_unavailable', (error as Error).message, { cause: error });
  }
  const sessionOptions = { provider: choice.device, ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}) };
  const sessions: ModelSession[] = [];
  const open = async (path: string) => {
    const s = await createSession(path, sessionOptions);
    sessions.push(s);
    return s;
  };
  const unetConfig = parseUNetConfig(folder.unet.config, join(folder.unet.dir, 'config.json'));
  const vaeConfig = folder.vae.config as { block_out_channels: number[]; latent_channels?: number; scaling_factor?: number; sample_size?: number };
  const textConfig = folder.textEncoder.config as { hidden_size: number };
  const vaeScaleFactor = 2 ** (vaeConfig.block_out_channels.length - 1);
  const identity = weightsFingerprint([folder.unet.weightsPath, folder.vae.weightsPath, folder.textEncoder.weightsPath]);
  const attentionLevels = unetConfig.down_block_types.flatMap((t, i) => (t.startsWith('CrossAttn') ? [i] : []));
  const facts: ModelFacts = {
    vaeScaleFactor,
    scalingFactor: vaeConfig.scaling_factor ?? 0.18215,
    latentChannels: vaeConfig.latent_channels ?? 4,
    contextChannels: textConfig.hidden_size,
    defaultSize: vaeConfig.sample_size ?? unetConfig.sample_size * vaeScaleFactor,
    blockChannels: unetConfig.block_out_channels,
    attentionLevels,
    identity,
    provider: describeChoice(choice),
    schedulerConfig: folder.scheduler.config,
  };
  let controlnet: ReturnType<typeof openControlNet> | undefined;
  try {
    controlnet = opts.controlnetDir === undefined ? undefined : openControlNet(opts.controlnetDir, unetConfig.cross_attention_dim, opts, sessionOptions);
  } catch (error) {
    folder.dispose();
    throw error;
  }
  const tokenizer = openPromptTokenizer(folder.tokenizer.vocabPath, folder.tokenizer.mergesPath);
  const text = await open((await componentGraph(folder, 'text_encoder', opts.cacheDir, { weightStorage: opts.weightStorage, compute: opts.compute })).path);
  const unets = new Map<string, Promise<UNetRunner>>();
  const unetSessions = new ResidentSessions(opts.residentUNets ?? 1, sessionOptions);

  const vaeSession = async (component: 'vae_encoder' | 'vae_decoder', height: number, width: number) =>
    open((await componentGraph(folder, component, opts.cacheDir, { height, width, weightStorage: opts.weightStorage, compute: opts.compute })).path);

  const buildVariant = async (variant: UNetVariant): Promise<UNetRunner> => {
    const key = {
      component: 'unet',
      weights: weightsFingerprint([folder.unet.weightsPath]),
      builderVersion: `${builderVersion()}-engine${ENGINE_GRAPH_VERSION}`,
      variant: JSON.stringify({
        key: variant.key, frames: variant.frames, height: variant.height, width: variant.width, weightStorage: opts.weightStorage ?? 'float32',
        crossFrameMinChannels: variant.crossFrameMinChannels ?? null, groupNorm: variant.groupNorm ?? 'frame', ...controlVideoKey(variant),
        ...(opts.compute === 'float16' ? { compute: 'float16' } : {}), ...(chunkOf(variant, opts) ? { attentionQueryChunk: chunkOf(variant, opts) } : {}),
      }),
    };
    const graph = await cachedGraph(opts.cacheDir, key, async (tmp) => {
      // building holds the weights and the graph in memory: release the session the new one would evict first
      await unetSessions.makeRoomForOne();
      const hooks = variant.hooks?.();
      const model = buildUNetGraph(unetConfig, folder.unet.weights, {
        frames: variant.frames, height: variant.height, width: variant.width, hooks, weightStorage: opts.weightStorage,
        attentionQueryChunk: chunkOf(variant, opts), crossFrameMinChannels: variant.crossFrameMinChannels, groupNorm: variant.groupNorm,
        fullCrossFrame: variant.fullCrossFrame, keyFrames: variant.keyFrames, controlResiduals: variant.controlResiduals,
      });
      saveModel(opts.compute === 'float16' ? toFloat16Compute(model) : model, tmp, 'unet');
      writeFileSync(join(tmp, 'meta.json'), JSON.stringify(variant.describe?.() ?? null));
    });
    const metaPath = join(dirname(graph.path), 'meta.json');
    const meta = existsSync(metaPath) ? JSON.parse(readFileSync(metaPath, 'utf8')) as unknown : null;
    return runnerFor(unetSessions.graph(graph.path), meta);
  };

  return {
    facts,
    tokenizer,
    async encodeText(ids) {
      const out = await runSession(text, { input_ids: int64Tensor(ids.flat(), [ids.length, ids[0].length]) });
      const hidden = out.last_hidden_state;
      return { data: tensorToFloat32(hidden), dims: hidden.dims.map(Number) };
    },
    async encodeImages(images) {
      const [F, C, H, W] = images.dims;
      const session = await vaeSession('vae_encoder', H, W);
      // one frame at a time keeps the encoder's activations small at 512 px
      const per = C * H * W;
      const chunks: Float32Array[] = [];
      let dims: number[] = [];
      for (let f = 0; f < F; f++) {
        const out = await runSession(session, { sample: float32Tensor(images.data.slice(f * per, (f + 1) * per), [1, C, H, W]) });
        chunks.push(tensorToFloat32(out.latent_dist_mean));
        dims = out.latent_dist_mean.dims.map(Number);
      }
      return { data: concat(chunks), dims: [F, ...dims.slice(1)] };
    },
    async decodeLatents(latents) {
      const [F, C, h, w] = latents.dims;
      const session = await vaeSession('vae_decoder', h, w);
      const per = C * h * w;
      const chunks: Float32Array[] = [];
      let dims: number[] = [];
      for (let f = 0; f < F; f++) {
        const out = await runSession(session, { latent: float32Tensor(latents.data.slice(f * per, (f + 1) * per), [1, C, h, w]) });
        chunks.push(tensorToFloat32(out.sample));
        dims = out.sample.dims.map(Number);
      }
      return { data: concat(chunks), dims: [F, ...dims.slice(1)] };
    },
    unet(variant) {
      // the in-process cache keys on everything that shapes the graph, as the on-disk one does
      const id = JSON.stringify([variant.key, variant.frames, variant.height, variant.width, variant.crossFrameMinChannels ?? null, variant.groupNorm ?? 'frame', controlVideoKey(variant)]);
      let pending = unets.get(id);
      if (!pending) {
        pending = buildVariant(variant);
        unets.set(id, pending);
      }
      return pending;
    },
    controlnet: controlnet?.part,
    async dispose() {
      await controlnet?.dispose();
      await unetSessions.releaseAll();
      await Promise.all(sessions.map((s) => s.dispose()));
      folder.dispose();
    },
  };
}

/** A variant's own attention query chunk, else the load option's. */
function chunkOf(variant: Pick<UNetVariant, 'attentionQueryChunk'>, opts: LoadEditModelOptions): number | undefined {
  return variant.attentionQueryChunk ?? opts.attentionQueryChunk;
}

/** The ControlVideo fields of a variant, only where set, so FateZero variants keep their cache keys. */
function controlVideoKey(variant: Omit<UNetVariant, 'controlResiduals'> & { controlResiduals?: boolean }): Record<string, unknown> {
  return {
    ...(variant.fullCrossFrame ? { fullCrossFrame: true } : {}),
    ...(variant.keyFrames !== undefined ? { keyFrames: variant.keyFrames } : {}),
    ...(variant.controlResiduals ? { controlResiduals: true } : {}),
    ...(variant.attentionQueryChunk !== undefined ? { attentionQueryChunk: variant.attentionQueryChunk } : {}),
  };
}

/**
 * Opens the ControlNet folder and prepares its graphs (built per variant on first use, one session resident).
 * @throws EngineError('controlnet_invalid') when the folder is not a usable ControlNetModel for this model.
 */
function openControlNet(dir: string, contextChannels: number, opts: LoadEditModelOptions, sessionOptions: ConstructorParameters<typeof ResidentSessions>[1]): { part: ControlNetPart; dispose(): Promise<void> } {
  let folder: ControlNetFolder;
  try {
    folder = loadControlNetFolder(dir);
  } catch (error) {
    throw new EngineError('controlnet_invalid', `The ControlNet folder cannot be used: ${(error as Error).message}`, { cause: error });
  }
  if (folder.config.cross_attention_dim !== contextChannels) {
    folder.dispose();
    throw new EngineError('controlnet_invalid', `The ControlNet in ${dir} has cross_attention_dim ${folder.config.cross_attention_dim} but the model's text encoder gives ${contextChannels}; pick a ControlNet trained for this base model.`);
  }
  const sessions = new ResidentSessions(1, sessionOptions);
  const graphs = new Map<string, Promise<UNetRunner>>();
  const weights = weightsFingerprint([folder.weightsPath]);
  const build = async (variant: Omit<UNetVariant, 'controlResiduals'>): Promise<UNetRunner> => {
    const key = {
      component: 'controlnet',
      weights,
      builderVersion: `${builderVersion()}-engine${ENGINE_GRAPH_VERSION}`,
      variant: JSON.stringify({
        key: variant.key, frames: variant.frames, height: variant.height, width: variant.width, weightStorage: opts.weightStorage ?? 'float32',
        crossFrameMinChannels: variant.crossFrameMinChannels ?? null, groupNorm: variant.groupNorm ?? 'frame', ...controlVideoKey(variant),
        ...(opts.compute === 'float16' ? { compute: 'float16' } : {}), ...(chunkOf(variant, opts) ? { attentionQueryChunk: chunkOf(variant, opts) } : {}),
      }),
    };
    const graph = await cachedGraph(opts.cacheDir, key, (tmp) => {
      const model = buildControlNetGraph(folder.config, folder.weights, {
        frames: variant.frames, height: variant.height, width: variant.width, hooks: variant.hooks?.(), weightStorage: opts.weightStorage,
        attentionQueryChunk: chunkOf(variant, opts), crossFrameMinChannels: variant.crossFrameMinChannels, groupNorm: variant.groupNorm,
        fullCrossFrame: variant.fullCrossFrame, keyFrames: variant.keyFrames, origin: join(folder.dir, 'config.json'),
      });
      saveModel(opts.compute === 'float16' ? toFloat16Compute(model) : model, tmp, 'controlnet');
      writeFileSync(join(tmp, 'meta.json'), JSON.stringify(variant.describe?.() ?? null));
    });
    const metaPath = join(dirname(graph.path), 'meta.json');
    const meta = existsSync(metaPath) ? JSON.parse(readFileSync(metaPath, 'utf8')) as unknown : null;
    return runnerFor(sessions.graph(graph.path), meta);
  };
  const part: ControlNetPart = {
    facts: {
      conditioningScaleFactor: conditioningScaleFactor(folder.config),
      outputNames: controlNetOutputNames(folder.config),
      unetInputName: unetResidualInputName,
      identity: weights,
    },
    graph(variant) {
      const id = JSON.stringify([variant.key, variant.frames, variant.height, variant.width, variant.crossFrameMinChannels ?? null, variant.groupNorm ?? 'frame', controlVideoKey(variant)]);
      let pending = graphs.get(id);
      if (!pending) {
        pending = build(variant);
        graphs.set(id, pending);
      }
      return pending;
    },
  };
  return {
    part,
    async dispose() {
      await sessions.releaseAll();
      folder.dispose();
    },
  };
}

function concat(chunks: Float32Array[]): Float32Array {
  const out = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

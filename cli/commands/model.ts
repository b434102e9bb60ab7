/**
 * `ocd model`: make model folders and run single components.
 *
 *   ocd model tiny <dir> [--seed N] [--bpe <bpe_simple_vocab_16e6.txt.gz>]
 *   ocd model sd15 <dir> [--seed N] [--bpe <gz>]          (random weights, SD1.5 configs, ~4.3 GB)
 *   ocd model controlnet <dir> [--preset sd15|tiny] [--seed N]   (random ControlNetModel folder; sd15 ~1.4 GB)
 *   ocd model forward <modelDir> <component> <in.safetensors> <out.safetensors> [--provider cpu|cuda] [--cache-dir DIR] [--threads N]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SafetensorsFile, writeSafetensors, type TensorEntry } from '../../gpu-runner/models/safetensors.ts';
import {
  COMPONENTS, componentGraph, controlNetGraph, type ComponentGraphOptions, type ComponentName,
} from '../../gpu-runner/models/bundle/component-graphs.ts';
import { loadControlNetFolder } from '../../gpu-runner/models/bundle/controlnet-folder.ts';
import { controlNetOutputNames } from '../../gpu-runner/models/controlnet/controlnet.ts';
import { resolveCacheDir } from '../../gpu-runner/models/bundle/cache-dir.ts';
import { resolveClipVocab } from '../../gpu-runner/models/bundle/clip-vocab.ts';
import { loadModelFolder } from '../../gpu-runner/models/bundle/model-folder.ts';
import { writeRandomSD15Bundle } from '../../gpu-runner/models/bundle/sd15.ts';
import { writeControlNetFolder } from '../../gpu-runner/models/bundle/bundle-writer.ts';
import { SD15_CONTROLNET_CONFIG, TINY_CONTROLNET_CONFIG } from '../../gpu-runner/models/bundle/sd-configs.ts';
import { writeTinyBundle } from '../../gpu-runner/models/bundle/tiny.ts';
import { parseDevice, type Device } from '../../gpu-runner/runtime/providers.ts';
import { runSubcommands, UsageError } from '../subcommands.ts';
import { createSession, disposeAllSessions, runSession } from '../../gpu-runner/runtime/session.ts';
import { float32Tensor, int64Tensor, type OrtTensor, type TensorMap } from '../../gpu-runner/runtime/tensors.ts';

export const summary = 'make a tiny/SD1.5-scale random model or ControlNet folder, or run one model component on a safetensors file';

const USAGE = `usage:
  ocd model tiny <dir> [--seed N] [--bpe <bpe_simple_vocab_16e6.txt.gz>]
  ocd model sd15 <dir> [--seed N] [--bpe <gz>]
  ocd model controlnet <dir> [--preset sd15|tiny] [--seed N]
  ocd model forward <modelDir> <component> <in.safetensors> <out.safetensors>
                    [--provider cpu|cuda] [--cache-dir DIR] [--threads N]
components: ${COMPONENTS.join(', ')} (of a model folder); controlnet (of a ControlNet folder)
Input tensors may be named bare (sample) or with the reference files' prefix (input.sample); outputs are written bare.`;


/** What `ocd model forward` runs: a model folder's components, or a ControlNet folder (`controlnet`). */
export const FORWARD_COMPONENTS = [...COMPONENTS, 'controlnet'] as const;
export type ForwardComponent = (typeof FORWARD_COMPONENTS)[number];

/** Graph inputs each model-folder component takes, and its graph output -> file tensor name. */
const COMPONENT_IO: Readonly<Record<ComponentName, { inputs: readonly string[]; outputs: Readonly<Record<string, string>> }>> = Object.freeze({
  text_encoder: { inputs: ['input_ids'], outputs: { last_hidden_state: 'last_hidden_state' } },
  unet: { inputs: ['sample', 'timestep', 'encoder_hidden_states'], outputs: { out_sample: 'sample' } },
  vae_encoder: { inputs: ['sample'], outputs: { latent_dist_mean: 'latent_dist_mean', latent_dist_logvar: 'latent_dist_logvar' } },
  vae_decoder: { inputs: ['latent'], outputs: { sample: 'sample' } },
});

/** Options of `forwardComponent`. */
export interface ForwardOptions {
  readonly modelDir: string;
  readonly component: ForwardComponent;
  readonly inputPath: string;
  readonly outputPath: string;
  /** @default 'cpu' */
  readonly provider?: Device;
  /** Cache root for built graphs. @default - `.cache/` under the repository root */
  readonly cacheDir?: string;
  /** Threads per op. @default - onnxruntime's choice */
  readonly threads?: number;
}

interface InputTensor {
  readonly tensor: OrtTensor;
  readonly dims: readonly number[];
  readonly isFloat: boolean;
}

function storedName(file: SafetensorsFile, name: string): string | undefined {
  return [`input.${name}`, name].find((candidate) => file.has(candidate));
}

function readInput(file: SafetensorsFile, name: string): InputTensor {
  const stored = storedName(file, name);
  if (!stored) throw new Error(`${file.path}: no input tensor '${name}' (or 'input.${name}'); it has ${file.names().join(', ')}`);
  const info = file.info(stored)!;
  const isFloat = ['F32', 'F16', 'BF16', 'F64'].includes(info.dtype);
  const tensor = isFloat ? float32Tensor(file.readFloat32(stored), info.shape) : int64Tensor(file.readInt64(stored), info.shape);
  return { tensor, dims: info.shape, isFloat };
}

/** Graph options implied by the inputs (spatial size, timestep type). */
function graphOptionsFor(component: ComponentName, inputs: Record<string, InputTensor>): ComponentGraphOptions {
  switch (component) {
    case 'unet':
      return {
        height: inputs.sample.dims[2], width: inputs.sample.dims[3],
        timestepDType: inputs.timestep.isFloat ? 'float32' : 'int64',
      };
    case 'vae_encoder':
      return { height: inputs.sample.dims[2], width: inputs.sample.dims[3] };
    case 'vae_decoder':
      return { height: inputs.latent.dims[2], width: inputs.latent.dims[3] };
    default:
      return {};
  }
}

/**
 * The ControlNet residual inputs a UNet case carries (`down_block_additional_residuals.{i}`, then
 * `mid_block_additional_residual`): none, or all of them.
 */
function residualInputNames(file: SafetensorsFile): string[] {
  const names: string[] = [];
  while (storedName(file, `down_block_additional_residuals.${names.length}`)) names.push(`down_block_additional_residuals.${names.length}`);
  const mid = storedName(file, 'mid_block_additional_residual') !== undefined;
  if (names.length === 0 && !mid) return [];
  if (names.length === 0 || !mid) {
    throw new Error(`${file.path}: ControlNet residuals need both down_block_additional_residuals.{0..} and mid_block_additional_residual; found ${names.length} down and ${mid ? 'a' : 'no'} mid residual`);
  }
  return [...names, 'mid_block_additional_residual'];
}

/** Runs a graph on the named inputs and writes the mapped outputs as float32 tensors. */
async function runAndWrite(graphPath: string, inputs: Record<string, InputTensor>, outputNames: Readonly<Record<string, string>>, options: ForwardOptions): Promise<TensorMap> {
  const session = await createSession(graphPath, { provider: options.provider ?? 'cpu', intraOpNumThreads: options.threads });
  const feeds: TensorMap = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.tensor]));
  const results = await runSession(session, feeds);
  const outputs: TensorMap = {};
  for (const [graphName, fileName] of Object.entries(outputNames)) outputs[fileName] = results[graphName];
  const entries: TensorEntry[] = Object.entries(outputs).map(([name, tensor]) => ({
    name, dtype: 'F32', shape: tensor.dims, data: tensor.data as Float32Array,
  }));
  writeSafetensors(options.outputPath, entries);
  return outputs;
}

/** `forwardComponent` for a ControlNet folder: conditioning_scale defaults to 1 as in diffusers. */
async function forwardControlNet(options: ForwardOptions, file: SafetensorsFile): Promise<TensorMap> {
  const controlnet = loadControlNetFolder(options.modelDir);
  try {
    const inputs: Record<string, InputTensor> = {};
    for (const name of ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond']) inputs[name] = readInput(file, name);
    inputs.conditioning_scale = storedName(file, 'conditioning_scale')
      ? readInput(file, 'conditioning_scale')
      : { tensor: float32Tensor(Float32Array.of(1), []), dims: [], isFloat: true };
    const graph = await controlNetGraph(controlnet, resolveCacheDir(options.cacheDir), {
      height: inputs.sample.dims[2], width: inputs.sample.dims[3], timestepDType: inputs.timestep.isFloat ? 'float32' : 'int64',
    });
    const names = controlNetOutputNames(controlnet.config);
    return await runAndWrite(graph.path, inputs, Object.fromEntries(names.map((name) => [name, name])), options);
  } finally {
    controlnet.dispose();
  }
}

/**
 * Runs one component of a model folder (or, for `controlnet`, a ControlNet folder) on the tensors of
 * `inputPath` and writes its outputs to `outputPath`. This is what `ocd model forward` calls. A `unet` input
 * file that holds ControlNet residuals runs the UNet variant that adds them.
 *
 * @returns the outputs written, by file name.
 * @throws ModelLoadError for a bad model folder; Error for missing inputs or an unknown component.
 */
export async function forwardComponent(options: ForwardOptions): Promise<TensorMap> {
  if (!(FORWARD_COMPONENTS as readonly string[]).includes(options.component)) {
    throw new Error(`unknown component '${options.component}'; allowed: ${FORWARD_COMPONENTS.join(', ')}`);
  }
  const file = SafetensorsFile.open(options.inputPath);
  try {
    if (options.component === 'controlnet') return await forwardControlNet(options, file);
    const component = options.component;
    const io = COMPONENT_IO[component];
    const model = loadModelFolder(options.modelDir);
    try {
      const residuals = component === 'unet' ? residualInputNames(file) : [];
      const inputs: Record<string, InputTensor> = {};
      for (const name of [...io.inputs, ...residuals]) inputs[name] = readInput(file, name);
      const graphOptions = { ...graphOptionsFor(component, inputs), controlResiduals: residuals.length > 0 };
      const graph = await componentGraph(model, component, resolveCacheDir(options.cacheDir), graphOptions);
      return await runAndWrite(graph.path, inputs, io.outputs, options);
    } finally {
      model.dispose();
    }
  } finally {
    file.close();
  }
}

function parseSeed(value: string | undefined): number {
  const seed = value === undefined ? 0 : Number(value);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed must be an integer in [0, 2^32); got '${value}'`);
  return seed;
}

async function runGenerate(kind: 'tiny' | 'sd15', argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { seed: { type: 'string' }, bpe: { type: 'string' } } });
  if (positionals.length !== 1) throw new UsageError(`ocd model ${kind} takes one folder; got ${positionals.length} arguments`);
  const dir = resolve(positionals[0]);
  const options = { seed: parseSeed(values.seed), bpeVocabGzPath: resolveClipVocab({ explicitPath: values.bpe }) };
  const started = Date.now();
  if (kind === 'tiny') writeTinyBundle(dir, options);
  else writeRandomSD15Bundle(dir, options);
  console.log(`wrote ${kind} bundle (seed ${options.seed}) to ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

/** Random ControlNet presets: SD1.5's config, or one that pairs with the tiny bundle's UNet. */
const CONTROLNET_PRESETS = Object.freeze({ sd15: SD15_CONTROLNET_CONFIG, tiny: TINY_CONTROLNET_CONFIG });

async function runGenerateControlNet(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { seed: { type: 'string' }, preset: { type: 'string' } } });
  if (positionals.length !== 1) throw new UsageError(`ocd model controlnet takes one folder; got ${positionals.length} arguments`);
  const preset = values.preset ?? 'sd15';
  if (!Object.hasOwn(CONTROLNET_PRESETS, preset)) throw new UsageError(`--preset must be one of ${Object.keys(CONTROLNET_PRESETS).join(', ')}; got '${preset}'`);
  const dir = resolve(positionals[0]);
  const seed = parseSeed(values.seed);
  const started = Date.now();
  writeControlNetFolder(dir, CONTROLNET_PRESETS[preset as keyof typeof CONTROLNET_PRESETS], { seed });
  console.log(`wrote ${preset} ControlNet (seed ${seed}) to ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

async function runForward(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { provider: { type: 'string' }, 'cache-dir': { type: 'string' }, threads: { type: 'string' } },
  });
  if (positionals.length !== 4) throw new UsageError(`ocd model forward takes 4 arguments; got ${positionals.length}`);
  const [modelDir, component, inputPath, outputPath] = positionals;
  if (!(FORWARD_COMPONENTS as readonly string[]).includes(component)) {
    throw new UsageError(`unknown component '${component}'; allowed: ${FORWARD_COMPONENTS.join(', ')}`);
  }
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 0)) throw new UsageError(`--threads must be a non-negative integer; got '${values.threads}'`);
  const outputs = await forwardComponent({
    modelDir, component: component as ForwardComponent, inputPath, outputPath, threads,
    provider: parseDevice(values.provider ?? env.OCD_PROVIDER ?? 'cpu'),
    cacheDir: values['cache-dir'] ?? env.OCD_CACHE_DIR,
  });
  for (const [name, tensor] of Object.entries(outputs)) console.log(`${name}: ${tensor.type} [${tensor.dims.join(', ')}]`);
  await disposeAllSessions();
  return 0;
}

/** Entry point of `ocd model`. */
export function run(argv: string[]): Promise<number> {
  return runSubcommands('model', USAGE, {
    tiny: (rest) => runGenerate('tiny', rest),
    sd15: (rest) => runGenerate('sd15', rest),
    controlnet: runGenerateControlNet,
    forward: (rest) => runForward(rest, process.env),
  }, argv);
}

/**
 * Resolves the provider setting from configuration to a device that works on this machine, by opening a
 * one-node session on each candidate: the CUDA provider needs its library (only the container image has it), the
 * WebGPU provider needs a Vulkan adapter (a GPU driver or a software one). The answer says which it got and why
 * the others were passed over, for the log and the report.
 */
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { AUTO_ORDER, providersFor, type Device, type ProviderSetting } from './providers.ts';

/** Outcome of `chooseProvider`. */
export interface ProviderChoice {
  readonly device: Device;
  /** What configuration asked for. */
  readonly requested: ProviderSetting;
  /** Devices tried before `device` and why each failed. */
  readonly skipped: readonly { device: Device; reason: string }[];
}

/** A one-node ONNX model, y = x + x over float [1]. */
function probeModel(): Uint8Array {
  const { onnx } = onnxProto;
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const info = (name: string) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }] } } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'probe', node: [{ opType: 'Add', input: ['x', 'x'], output: ['y'], name: 'add' }], input: [info('x')], output: [info('y')] },
  })).finish();
}

/** Opens and runs the probe model on `device` alone (no CPU fallback), or throws why it cannot. */
export async function probeDevice(device: Device): Promise<void> {
  const only = providersFor(device)[0];
  const session = await ort.InferenceSession.create(probeModel(), { executionProviders: [only], logSeverityLevel: 4 });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(2), [1]) });
    const y = (out.y.data as Float32Array)[0];
    if (y !== 4) throw new Error(`probe computed ${y} instead of 4`);
  } finally {
    await session.release();
  }
}

/**
 * The device for `requested`: itself when it works here, for 'auto' the first of cuda, webgpu, cpu that works.
 * @throws Error naming the device and onnxruntime's reason when an explicitly requested device does not work.
 */
export async function chooseProvider(requested: ProviderSetting, probe: (device: Device) => Promise<void> = probeDevice): Promise<ProviderChoice> {
  const candidates = requested === 'auto' ? AUTO_ORDER : [requested];
  const skipped: { device: Device; reason: string }[] = [];
  for (const device of candidates) {
    try {
      await probe(device);
      return { device, requested, skipped };
    } catch (error) {
      skipped.push({ device, reason: (error as Error).message.split('\n')[0] });
    }
  }
  const why = skipped.map((s) => `${s.device}: ${s.reason}`).join('; ');
  throw new Error(`provider '${requested}' does not work on this machine (${why}); set OCD_PROVIDER to cpu, or 'auto' to take what works`);
}

/** One line for logs: "webgpu (asked auto; cuda skipped: ...)". */
export function describeChoice(choice: ProviderChoice): string {
  const skipped = choice.skipped.map((s) => `${s.device} skipped: ${s.reason}`).join('; ');
  return `${choice.device} (asked ${choice.requested}${skipped ? `; ${skipped}` : ''})`;
}

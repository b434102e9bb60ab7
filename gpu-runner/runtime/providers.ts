/**
 * Device -> onnxruntime execution providers. One frozen table, so the set of devices the service
 * accepts is visible in one place; the caller reads the device from configuration (`OCD_PROVIDER`)
 * and passes it in.
 */

/** Devices a session can run on. */
export type Device = 'cpu' | 'cuda' | 'webgpu';

/**
 * Execution providers tried in order for each device. CUDA keeps the CPU provider as the fallback for
 * ops the CUDA provider lacks.
 */
export const EXECUTION_PROVIDERS: Readonly<Record<Device, readonly string[]>> = Object.freeze({
  cpu: Object.freeze(['cpu']),
  cuda: Object.freeze(['cuda', 'cpu']),
  // onnxruntime-node's bundled WebGPU provider (Dawn over Vulkan on Linux); the CPU runs the ops it lacks
  webgpu: Object.freeze(['webgpu', 'cpu']),
});

/** The devices in `EXECUTION_PROVIDERS`. */
export const DEVICES = Object.freeze(Object.keys(EXECUTION_PROVIDERS) as Device[]);

/** What configuration may ask for: a device, or 'auto' (the first of cuda, webgpu, cpu that works here). */
export type ProviderSetting = Device | 'auto';

/** The settings `OCD_PROVIDER` accepts. */
export const PROVIDER_SETTINGS: readonly ProviderSetting[] = Object.freeze([...Object.keys(EXECUTION_PROVIDERS) as Device[], 'auto' as const]);

/** The order 'auto' tries devices in: the fastest that works. */
export const AUTO_ORDER: readonly Device[] = Object.freeze(['cuda', 'webgpu', 'cpu'] as Device[]);

/**
 * Validates a device name from configuration.
 *
 * @throws Error naming the value and the allowed devices.
 * @example parseDevice(process.env.OCD_PROVIDER ?? 'cpu')
 */
export function parseDevice(value: string): Device {
  if ((DEVICES as readonly string[]).includes(value)) return value as Device;
  throw new Error(`unknown device '${value}'; allowed: ${DEVICES.join(', ')} (set OCD_PROVIDER to one of them)`);
}

/** The execution providers for `device`. */
export function providersFor(device: Device): readonly string[] {
  return EXECUTION_PROVIDERS[parseDevice(device)];
}

/**
 * Validates a provider setting from configuration: a device or 'auto'.
 * @throws Error naming the value and the allowed settings.
 */
export function parseProviderSetting(value: string): ProviderSetting {
  if ((PROVIDER_SETTINGS as readonly string[]).includes(value)) return value as ProviderSetting;
  throw new Error(`unknown provider '${value}'; allowed: ${PROVIDER_SETTINGS.join(', ')} (set OCD_PROVIDER to one of them)`);
}

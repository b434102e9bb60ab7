/**
 * Device -> onnxruntime execution providers. One frozen table, so the set of devices the service
 * accepts is visible in one place; the caller reads the device from configuration (`OCD_PROVIDER`)
 * and passes it in.
 */

/** Devices a session can run on. */
export type Device = 'cpu' | 'cuda';

/**
 * Execution providers tried in order for each device. CUDA keeps the CPU provider as the fallback for
 * ops the CUDA provider lacks.
 */
export const EXECUTION_PROVIDERS: Readonly<Record<Device, readonly string[]>> = Object.freeze({
  cpu: Object.freeze(['cpu']),
  cuda: Object.freeze(['cuda', 'cpu']),
});

/** The devices in `EXECUTION_PROVIDERS`. */
export const DEVICES = Object.freeze(Object.keys(EXECUTION_PROVIDERS) as Device[]);

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

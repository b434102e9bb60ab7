/**
 * The deploy-time parameters of the stack, read from CDK context (cdk.json, or `-c key=value` on the command line)
 * and checked once, here, so every construct receives typed, valid values.
 */
import { parseS3Uri } from './s3-uri.ts';

/** Context keys the app reads; `npx cdk deploy -c ocd:modelUri=s3://bucket/prefix/` sets one. */
export const CONTEXT_KEYS = {
  account: 'ocd:account',
  region: 'ocd:region',
  availabilityZones: 'ocd:availabilityZones',
  modelUri: 'ocd:modelUri',
  controlnetUri: 'ocd:controlnetUri',
  instanceType: 'ocd:instanceType',
  maxWorkers: 'ocd:maxWorkers',
  artifactRetentionDays: 'ocd:artifactRetentionDays',
  apiReservedConcurrency: 'ocd:apiReservedConcurrency',
  stackName: 'ocd:stackName',
} as const;

/** The stack's parameters after validation. */
export interface OcdSettings {
  /** @default - the account of the CLI's credentials at deploy time (the stack is account-agnostic) */
  readonly account?: string;
  readonly region: string;
  /**
   * The availability zones of the worker VPC, fixed so that synth needs no AWS lookup and so that GPU
   * instance types can be steered to zones that offer them.
   * @default - the region's first two zones, resolved by CloudFormation (Fn::GetAZs)
   */
  readonly availabilityZones?: readonly string[];
  /** @default - the `models/` prefix of the stack's own bucket */
  readonly modelUri?: string;
  /** @default - none: the ControlVideo editor is refused (`controlnet_missing`) */
  readonly controlnetUri?: string;
  readonly instanceType: string;
  readonly maxWorkers: number;
  readonly artifactRetentionDays: number;
  readonly apiReservedConcurrency: number;
  readonly stackName: string;
}

export const DEFAULT_SETTINGS = {
  region: 'us-east-1',
  instanceType: 'g5.xlarge',
  maxWorkers: 4,
  artifactRetentionDays: 7,
  apiReservedConcurrency: 20,
  stackName: 'OcdVideoEdit',
} as const;

/** Instance families with NVIDIA GPUs that the CUDA 12 runner image can use. */
export const NVIDIA_GPU_FAMILIES = ['g4dn', 'g5', 'g6', 'g6e', 'gr6', 'p3', 'p3dn', 'p4d', 'p4de', 'p5', 'p5e', 'p5en'] as const;

type ContextReader = (key: string) => unknown;

/**
 * Reads and validates the stack parameters from CDK context.
 *
 * @param read returns the raw context value of a key (`app.node.tryGetContext`)
 * @param defaultAccount the account to use when `ocd:account` is not set (the CLI's CDK_DEFAULT_ACCOUNT)
 * @throws when a value is malformed or out of range; the message names the key, the value and the fix.
 * @example settingsFromContext((k) => app.node.tryGetContext(k), process.env.CDK_DEFAULT_ACCOUNT)
 */
export function settingsFromContext(read: ContextReader, defaultAccount?: string): OcdSettings {
  const text = (key: string): string | undefined => {
    const value = read(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new Error(`Context ${key} must be a string, got ${JSON.stringify(value)}.`);
    return value.trim();
  };
  const account = text(CONTEXT_KEYS.account) ?? (defaultAccount || undefined);
  if (account !== undefined && !/^\d{12}$/.test(account)) {
    throw new Error(`Context ${CONTEXT_KEYS.account} is '${account}'; an AWS account id has 12 digits. Fix: -c ${CONTEXT_KEYS.account}=123456789012.`);
  }
  const region = text(CONTEXT_KEYS.region) ?? DEFAULT_SETTINGS.region;
  if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region)) {
    throw new Error(`Context ${CONTEXT_KEYS.region} is '${region}', which is not an AWS region name. Fix: -c ${CONTEXT_KEYS.region}=us-east-1.`);
  }
  const availabilityZones = readZones(read(CONTEXT_KEYS.availabilityZones), region);
  const modelUri = text(CONTEXT_KEYS.modelUri);
  if (modelUri !== undefined) parseS3Uri(modelUri, `context ${CONTEXT_KEYS.modelUri}`);
  const controlnetUri = text(CONTEXT_KEYS.controlnetUri);
  if (controlnetUri !== undefined) parseS3Uri(controlnetUri, `context ${CONTEXT_KEYS.controlnetUri}`);
  const instanceType = text(CONTEXT_KEYS.instanceType) ?? DEFAULT_SETTINGS.instanceType;
  checkGpuInstanceType(instanceType);
  return {
    account,
    region,
    availabilityZones,
    modelUri,
    controlnetUri,
    instanceType,
    maxWorkers: readInteger(read, CONTEXT_KEYS.maxWorkers, DEFAULT_SETTINGS.maxWorkers, 1, 100),
    artifactRetentionDays: readInteger(read, CONTEXT_KEYS.artifactRetentionDays, DEFAULT_SETTINGS.artifactRetentionDays, 1, 3650),
    apiReservedConcurrency: readInteger(read, CONTEXT_KEYS.apiReservedConcurrency, DEFAULT_SETTINGS.apiReservedConcurrency, 1, 1000),
    stackName: text(CONTEXT_KEYS.stackName) ?? DEFAULT_SETTINGS.stackName,
  };
}

/**
 * Fails unless the instance type belongs to a family with NVIDIA GPUs.
 * @throws naming the value, the allowed families and the fix.
 */
export function checkGpuInstanceType(instanceType: string): void {
  const family = /^([a-z0-9-]+)\.[a-z0-9]+$/.exec(instanceType)?.[1];
  if (!family || !(NVIDIA_GPU_FAMILIES as readonly string[]).includes(family)) {
    throw new Error(
      `The worker instance type '${instanceType}' is not an NVIDIA GPU instance type. ` +
        `Allowed families: ${NVIDIA_GPU_FAMILIES.join(', ')}. Fix: -c ${CONTEXT_KEYS.instanceType}=g5.xlarge.`,
    );
  }
}

function readInteger(read: ContextReader, key: string, fallback: number, min: number, max: number): number {
  const raw = read(key);
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : Number(String(raw).trim());
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`Context ${key} is ${JSON.stringify(raw)}; it must be a whole number from ${min} to ${max}. Fix: -c ${key}=${fallback}.`);
  }
  return value;
}

function readZones(raw: unknown, region: string): readonly string[] | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  // From cdk.json it is a JSON array; from the command line (-c key=a,b) a comma-separated string.
  const zones = Array.isArray(raw) ? raw.map(String) : String(raw).split(',').map((z) => z.trim()).filter(Boolean);
  const foreign = zones.filter((zone) => !new RegExp(`^${region}[a-z]$`).test(zone));
  if (zones.length < 1 || foreign.length > 0) {
    throw new Error(
      `Context ${CONTEXT_KEYS.availabilityZones} is ${JSON.stringify(raw)}, but the zones must be in region ${region} ` +
        `(like ${region}a). Fix: -c ${CONTEXT_KEYS.availabilityZones}=${region}a,${region}b, or change ${CONTEXT_KEYS.region}.`,
    );
  }
  return zones;
}

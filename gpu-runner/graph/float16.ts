/**
 * Mixed-precision rewrite of a built float32 graph: every float value is computed in float16 except inside
 * the nodes that need float32 (normalisation statistics, softmax, the timestep embedding), which get their float
 * inputs cast up and their outputs cast back down. The graph's float32 inputs and outputs keep their names and
 * types (casts at the boundary), so callers feed and read float32 as before. Float initializers become float16
 * (half the weight memory) unless only float32 nodes read them (e.g. the timestep frequencies, whose fp16
 * rounding would shift the sinusoid by up to half a radian at t = 999).
 */
import { type AttributeValue, type GraphModel, type NodeRecord, type InitializerRecord, onnxType } from './builder.ts';
import { type DType, toFloat16 } from './tensor-data.ts';

/** Op types computed in float32 under float16 compute. */
// ScatterElements(reduction add) sums merged tokens (ToMe); the CPU provider has no float16 kernel for it
export const FLOAT32_OPS: ReadonlySet<string> = new Set(['InstanceNormalization', 'LayerNormalization', 'GroupNormalization', 'Softmax', 'ScatterElements']);

/** Node-name scopes computed in float32 (diffusers module paths: the timestep projection and its MLP). */
export const FLOAT32_SCOPES: readonly string[] = ['time_proj', 'time_embedding'];

export interface Float16ComputeOptions {
  /** Whether a node computes in float32. @default op type in FLOAT32_OPS or name under FLOAT32_SCOPES */
  readonly keepFloat32?: (node: NodeRecord) => boolean;
}

/** The default float32 set: normalisations, softmax and the timestep embedding. */
export function defaultKeepFloat32(node: NodeRecord): boolean {
  return FLOAT32_OPS.has(node.opType) || FLOAT32_SCOPES.some((s) => node.name.startsWith(`${s}/`) || node.name.startsWith(`${s}.`));
}

const COMPARISONS = new Set(['Greater', 'Less', 'Equal', 'GreaterOrEqual', 'LessOrEqual', 'Not', 'And', 'Or', 'IsNaN', 'IsInf']);
const INDEX_OUTPUTS = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero']);
/** Float inputs that are parameters, not data, and must stay float32 whatever the compute type (ONNX Resize roi/scales). */
const FLOAT32_PARAMETER_INPUTS: Readonly<Record<string, readonly number[]>> = { Resize: [1, 2] };
const DTYPE_OF_CODE = new Map<number, DType>([[1, 'float32'], [6, 'int32'], [7, 'int64'], [9, 'bool'], [10, 'float16']]);

/** Output element types of a node from its input types (the ops our builders emit). */
function outputTypes(node: NodeRecord, typeOf: (name: string) => DType | undefined): DType[] {
  const first = typeOf(node.inputs[0]) ?? 'float32';
  switch (true) {
    case node.opType === 'Cast': {
      const to = node.attributes.to as { kind: 'int'; value: number };
      return [DTYPE_OF_CODE.get(to.value) ?? 'float32'];
    }
    case INDEX_OUTPUTS.has(node.opType): return node.outputs.map(() => 'int64');
    case COMPARISONS.has(node.opType): return node.outputs.map(() => 'bool');
    case node.opType === 'TopK': return [first, 'int64'];
    case node.opType === 'Where': return [typeOf(node.inputs[1]) ?? 'float32'];
    default: return node.outputs.map(() => first);
  }
}

/**
 * Rewrites `model` (built in float32) to compute in float16 with float32 islands. See the module comment.
 * @throws Error when an initializer a float16 node reads has no data (graphs built with initializers 'discard').
 */
export function toFloat16Compute(model: GraphModel, options: Float16ComputeOptions = {}): GraphModel {
  const keep = options.keepFloat32 ?? defaultKeepFloat32;
  const original = new Map<string, DType>();
  for (const i of model.inputs) original.set(i.name, i.dtype);
  for (const i of model.initializers) original.set(i.name, i.dtype);
  for (const node of model.nodes) {
    outputTypes(node, (n) => original.get(n)).forEach((t, k) => original.set(node.outputs[k], t));
  }
  const isFloat = (name: string) => original.get(name) === 'float32';

  // initializers only float32 nodes read stay float32; the rest become float16
  const readers = new Map<string, NodeRecord[]>();
  for (const node of model.nodes) for (const input of node.inputs) readers.set(input, [...(readers.get(input) ?? []), node]);
  const readsAsFp32 = (node: NodeRecord, name: string) => keep(node) || (FLOAT32_PARAMETER_INPUTS[node.opType] ?? []).some((k) => node.inputs[k] === name);
  const fp32Initializers = new Set(model.initializers.filter((i) => i.dtype === 'float32' && (readers.get(i.name) ?? []).every((n) => readsAsFp32(n, i.name))).map((i) => i.name));
  const initializers: InitializerRecord[] = model.initializers.map((i) => {
    if (i.dtype !== 'float32' || fp32Initializers.has(i.name)) return i;
    if (!i.values) throw new Error(`toFloat16Compute: initializer ${i.name} has no data; build with initializers 'keep'.`);
    return { name: i.name, dtype: 'float16', dims: i.dims, values: toFloat16(i.values as Float32Array) };
  });

  const nodes: NodeRecord[] = [];
  const cast = (from: string, to: string, dtype: DType) => nodes.push({ opType: 'Cast', domain: '', name: `${to}/Cast`, inputs: [from], outputs: [to], attributes: { to: { kind: 'int', value: onnxType(dtype) } } });
  // float32 and float16 names of each float value, made on first need
  const fp32Name = new Map<string, string>();
  const fp16Name = new Map<string, string>();
  for (const input of model.inputs) if (input.dtype === 'float32') fp32Name.set(input.name, input.name);
  for (const name of fp32Initializers) fp32Name.set(name, name);
  const asFp16 = (name: string): string => {
    if (!name || !isFloat(name)) return name;
    let n = fp16Name.get(name);
    if (n) return n;
    const source = fp32Name.get(name);
    if (!source) return name; // produced in float16 under its own name
    n = `${name}.fp16`;
    cast(source, n, 'float16');
    fp16Name.set(name, n);
    return n;
  };
  const asFp32 = (name: string): string => {
    if (!name || !isFloat(name)) return name;
    let n = fp32Name.get(name);
    if (n) return n;
    n = `${name}.fp32`;
    cast(name, n, 'float32');
    fp32Name.set(name, n);
    return n;
  };

  for (const node of model.nodes) {
    if (keep(node)) {
      const outputs = node.outputs.map((o) => (isFloat(o) ? `${o}.fp32` : o));
      nodes.push({ ...node, inputs: node.inputs.map(asFp32), outputs });
      node.outputs.forEach((o, k) => { if (isFloat(o)) fp32Name.set(o, outputs[k]); });
      continue;
    }
    let attributes: Record<string, AttributeValue> = node.attributes;
    const to = node.attributes.to;
    if (node.opType === 'Cast' && to?.kind === 'int' && to.value === onnxType('float32')) attributes = { ...attributes, to: { kind: 'int', value: onnxType('float16') } };
    const parameters = FLOAT32_PARAMETER_INPUTS[node.opType] ?? [];
    nodes.push({ ...node, attributes, inputs: node.inputs.map((v, k) => (parameters.includes(k) ? asFp32(v) : asFp16(v))), outputs: [...node.outputs] });
  }
  // graph outputs keep float32: cast the float16 value under the output's name
  const outputs = model.outputs.map((o) => {
    if (o.dtype !== 'float32' || fp32Name.get(o.name) === o.name) return o;
    const fp32 = fp32Name.get(o.name);
    if (fp32) { // a float32 node made it: only its name changed
      cast(fp32, o.name, 'float32');
      return o;
    }
    const producer = nodes.find((n) => n.outputs.includes(o.name));
    if (!producer) return o;
    const inner = `${o.name}.out16`;
    producer.outputs[producer.outputs.indexOf(o.name)] = inner;
    for (const n of nodes) n.inputs.forEach((v, k) => { if (v === o.name) n.inputs[k] = inner; });
    cast(inner, o.name, 'float32');
    return o;
  });
  return { ...model, nodes, initializers, outputs };
}

import { DTYPE_BYTES, elementCount, type DType, type TensorValues, toFloat16 } from './tensor-data.ts';

/** A named value (graph input, initializer or node output) inside one GraphBuilder. */
export interface ValueRef {
  readonly name: string;
}

/** A dimension: a fixed size or a symbolic name (e.g. 'batch'). */
export type Dim = number | string;

/** Attribute values a node may carry. Integer-valued attributes must be passed through `ints()`/`int()`. */
export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; dtype: DType; dims: number[]; values: TensorValues };

export const int = (value: number): AttributeValue => ({ kind: 'int', value });
export const ints = (value: number[]): AttributeValue => ({ kind: 'ints', value });
export const float = (value: number): AttributeValue => ({ kind: 'float', value });
export const str = (value: string): AttributeValue => ({ kind: 'string', value });

export interface NodeRecord {
  readonly opType: string;
  readonly domain: string;
  readonly name: string;
  readonly inputs: string[];
  readonly outputs: string[];
  readonly attributes: Record<string, AttributeValue>;
}

export interface ValueInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Dim[] | undefined;
}

/** One initializer. `values` is undefined when the builder discards data (weight enumeration). */
export interface InitializerRecord {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: number[];
  values: TensorValues | undefined;
}

export interface GraphBuilderOptions {
  /** Graph name written into the model. */
  readonly name: string;
  /** Default-domain opset. @default 21 */
  readonly opset?: number;
  /** 'keep' stores initializer data; 'discard' only records names and shapes (cheap weight enumeration). @default 'keep' */
  readonly initializers?: 'keep' | 'discard';
  /**
   * Storage type of float weights. 'float16' halves the model and side file; each weight is cast back to
   * float32 in the graph so the arithmetic stays fp32. @default 'float32'
   */
  readonly weightStorage?: 'float32' | 'float16';
  /**
   * Default query rows per attention chunk for the attention blocks built into this graph (exact attention in
   * bounded memory, models/blocks/attention.ts `chunkedAttention`). @default - unchunked
   */
  readonly attentionQueryChunk?: number;
}

/** The model a builder produces: plain records that `serializeModel`/`saveModel` turn into ONNX protobuf. */
export interface GraphModel {
  readonly name: string;
  readonly opset: number;
  readonly usesMicrosoftDomain: boolean;
  readonly inputs: ValueInfo[];
  readonly outputs: ValueInfo[];
  readonly nodes: NodeRecord[];
  readonly initializers: InitializerRecord[];
}

/**
 * Builds one ONNX graph: inputs, initializers, nodes (through typed op helpers) and outputs.
 * Node names get the current scope prefix (diffusers module path), so a profile or an error points at the
 * checkpoint module.
 *
 * @example
 * const g = new GraphBuilder({ name: 'linear' });
 * const x = g.input('x', 'float32', ['batch', 4]);
 * g.output(g.matMul(x, g.weight('w', new Float32Array(8), [4, 2])), 'y', 'float32');
 */
export class GraphBuilder {
  readonly opset: number;
  readonly keepInitializers: boolean;
  readonly weightStorage: 'float32' | 'float16';
  readonly attentionQueryChunk: number | undefined;
  private readonly name: string;
  private readonly nodes: NodeRecord[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers: InitializerRecord[] = [];
  private readonly taken = new Set<string>();
  private readonly scopes: string[] = [];
  private counter = 0;
  private usesMicrosoft = false;

  constructor(options: GraphBuilderOptions) {
    this.name = options.name;
    this.opset = options.opset ?? 21;
    this.keepInitializers = (options.initializers ?? 'keep') === 'keep';
    this.weightStorage = options.weightStorage ?? 'float32';
    this.attentionQueryChunk = options.attentionQueryChunk;
  }

  // ---- structure ---------------------------------------------------------------------------------------

  /** Declares a graph input. An undefined shape leaves the rank free (e.g. a 0-dim or [B] timestep). */
  input(name: string, dtype: DType, shape: Dim[] | undefined): ValueRef {
    this.claim(name);
    this.inputs.push({ name, dtype, shape });
    return { name };
  }

  /** Declares `value` as a graph output called `name` (an Identity node renames it when needed). */
  output(value: ValueRef, name: string, dtype: DType, shape?: Dim[]): ValueRef {
    let ref = value;
    if (value.name !== name) {
      this.claim(name);
      this.nodes.push({ opType: 'Identity', domain: '', name: `${name}/Identity`, inputs: [value.name], outputs: [name], attributes: {} });
      ref = { name };
    }
    this.outputs.push({ name, dtype, shape });
    return ref;
  }

  /** Names of the declared graph inputs (hooks use it to avoid adding an input twice). */
  hasInput(name: string): boolean {
    return this.inputs.some((i) => i.name === name);
  }

  /** Runs `body` with `prefix` added to the node-name scope (e.g. 'down_blocks.0.resnets.1'). */
  scope<T>(prefix: string, body: () => T): T {
    this.scopes.push(prefix);
    try {
      return body();
    } finally {
      this.scopes.pop();
    }
  }

  /**
   * A float weight initializer named after the checkpoint tensor (style.md habit 5). With weightStorage
   * 'float16' the initializer is stored as half and cast to float32 in the graph.
   */
  weight(name: string, values: Float32Array | undefined, dims: number[]): ValueRef {
    if (values && values.length !== elementCount(dims)) {
      throw new Error(`Weight ${name}: ${values.length} values do not fill shape [${dims.join(', ')}] (${elementCount(dims)} expected).`);
    }
    if (this.weightStorage === 'float16') {
      const stored = `${name}.fp16`;
      this.addInitializer(stored, 'float16', dims, values && this.keepInitializers ? toFloat16(values) : undefined);
      return this.op1('Cast', [{ name: stored }], { to: int(1) }, name);
    }
    this.addInitializer(name, 'float32', dims, values);
    return { name };
  }

  /** A small float32 constant (kept even in 'discard' mode: it is structure, not a checkpoint weight). */
  constFloat(values: number[] | Float32Array, dims: number[] = [values.length]): ValueRef {
    return this.constant('float32', dims, Float32Array.from(values));
  }

  /** A small int64 constant (shapes, axes, indices). */
  constInt64(values: number[], dims: number[] = [values.length]): ValueRef {
    return this.constant('int64', dims, BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  /** A 0-dim float32 constant. */
  scalar(value: number): ValueRef {
    return this.constFloat([value], []);
  }

  /** Adds a generic node and returns its outputs. */
  op(opType: string, inputs: (ValueRef | undefined)[], attributes: Record<string, AttributeValue> = {}, options: { outputs?: number; domain?: string; name?: string } = {}): ValueRef[] {
    const domain = options.domain ?? '';
    if (domain === 'com.microsoft') this.usesMicrosoft = true;
    const base = this.uniqueName(options.name ?? opType);
    const count = options.outputs ?? 1;
    const outputs = Array.from({ length: count }, (_, i) => (count === 1 ? base : `${base}:${i}`));
    for (const o of outputs) this.claim(o);
    this.nodes.push({ opType, domain, name: base, inputs: inputs.map((i) => i?.name ?? ''), outputs, attributes });
    return outputs.map((name) => ({ name }));
  }

  /** `op` with exactly one output. */
  op1(opType: string, inputs: (ValueRef | undefined)[], attributes: Record<string, AttributeValue> = {}, name?: string, domain?: string): ValueRef {
    return this.op(opType, inputs, attributes, { name, domain })[0];
  }

  /** Freezes the builder's records into a model. */
  build(): GraphModel {
    if (this.outputs.length === 0) throw new Error(`Graph ${this.name} has no outputs: call output() before build().`);
    return {
      name: this.name,
      opset: this.opset,
      usesMicrosoftDomain: this.usesMicrosoft,
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      nodes: [...this.nodes],
      initializers: [...this.initializers],
    };
  }

  // ---- typed op helpers (ONNX semantics; shapes in the comments of callers) ------------------------------

  add(a: ValueRef, b: ValueRef): ValueRef { return this.op1('Add', [a, b]); }
  sub(a: ValueRef, b: ValueRef): ValueRef { return this.op1('Sub', [a, b]); }
  mul(a: ValueRef, b: ValueRef): ValueRef { return this.op1('Mul', [a, b]); }
  div(a: ValueRef, b: ValueRef): ValueRef { return this.op1('Div', [a, b]); }
  pow(a: ValueRef, b: ValueRef): ValueRef { return this.op1('Pow', [a, b]); }
  matMul(a: ValueRef, b: ValueRef): ValueRef { return this.op1('MatMul', [a, b]); }
  sqrt(x: ValueRef): ValueRef { return this.op1('Sqrt', [x]); }
  exp(x: ValueRef): ValueRef { return this.op1('Exp', [x]); }
  sin(x: ValueRef): ValueRef { return this.op1('Sin', [x]); }
  cos(x: ValueRef): ValueRef { return this.op1('Cos', [x]); }
  neg(x: ValueRef): ValueRef { return this.op1('Neg', [x]); }
  sigmoid(x: ValueRef): ValueRef { return this.op1('Sigmoid', [x]); }
  erf(x: ValueRef): ValueRef { return this.op1('Erf', [x]); }
  tanh(x: ValueRef): ValueRef { return this.op1('Tanh', [x]); }
  identity(x: ValueRef): ValueRef { return this.op1('Identity', [x]); }
  shape(x: ValueRef): ValueRef { return this.op1('Shape', [x]); }

  /** x·sigmoid(x). */
  silu(x: ValueRef): ValueRef { return this.mul(x, this.sigmoid(x)); }

  cast(x: ValueRef, to: DType): ValueRef {
    return this.op1('Cast', [x], { to: int(onnxType(to)) });
  }

  /** Reshape to a static target; 0 copies the input dim, -1 infers it. */
  reshape(x: ValueRef, shape: number[] | ValueRef): ValueRef {
    const target = Array.isArray(shape) ? this.constInt64(shape) : shape;
    return this.op1('Reshape', [x, target]);
  }

  transpose(x: ValueRef, perm: number[]): ValueRef { return this.op1('Transpose', [x], { perm: ints(perm) }); }
  softmax(x: ValueRef, axis = -1): ValueRef { return this.op1('Softmax', [x], { axis: int(axis) }); }
  concat(xs: ValueRef[], axis: number): ValueRef { return this.op1('Concat', xs, { axis: int(axis) }); }
  gather(x: ValueRef, indices: ValueRef, axis = 0): ValueRef { return this.op1('Gather', [x, indices], { axis: int(axis) }); }
  gatherElements(x: ValueRef, indices: ValueRef, axis: number): ValueRef { return this.op1('GatherElements', [x, indices], { axis: int(axis) }); }
  expand(x: ValueRef, shape: ValueRef): ValueRef { return this.op1('Expand', [x, shape]); }
  where(cond: ValueRef, a: ValueRef, b: ValueRef): ValueRef { return this.op1('Where', [cond, a, b]); }
  unsqueeze(x: ValueRef, axes: number[]): ValueRef { return this.op1('Unsqueeze', [x, this.constInt64(axes)]); }
  squeeze(x: ValueRef, axes: number[]): ValueRef { return this.op1('Squeeze', [x, this.constInt64(axes)]); }

  /** ScatterElements with an optional reduction ('add' needs opset >= 16). */
  scatterElements(data: ValueRef, indices: ValueRef, updates: ValueRef, axis: number, reduction: 'none' | 'add' = 'none'): ValueRef {
    return this.op1('ScatterElements', [data, indices, updates], { axis: int(axis), reduction: str(reduction) });
  }

  /** Splits along `axis` into pieces of the given sizes. */
  split(x: ValueRef, sizes: number[], axis: number): ValueRef[] {
    return this.op('Split', [x, this.constInt64(sizes)], { axis: int(axis) }, { outputs: sizes.length });
  }

  /** Slice [starts, ends) on `axes` (static bounds). */
  slice(x: ValueRef, starts: number[], ends: number[], axes: number[]): ValueRef {
    return this.op1('Slice', [x, this.constInt64(starts), this.constInt64(ends), this.constInt64(axes)]);
  }

  reduceMean(x: ValueRef, axes: number[], keepdims = true): ValueRef {
    return this.op1('ReduceMean', [x, this.constInt64(axes)], { keepdims: int(keepdims ? 1 : 0) });
  }

  reduceSum(x: ValueRef, axes: number[], keepdims = true): ValueRef {
    return this.op1('ReduceSum', [x, this.constInt64(axes)], { keepdims: int(keepdims ? 1 : 0) });
  }

  reduceMax(x: ValueRef, axes: number[], keepdims = true): ValueRef {
    return this.op1('ReduceMax', [x, this.constInt64(axes)], { keepdims: int(keepdims ? 1 : 0) });
  }

  argMax(x: ValueRef, axis: number, keepdims = true): ValueRef {
    return this.op1('ArgMax', [x], { axis: int(axis), keepdims: int(keepdims ? 1 : 0) });
  }

  /** TopK along `axis`: returns [values, indices]. Equal values keep ascending index order (ONNX spec). */
  topK(x: ValueRef, k: number, axis = -1, largest = true): [ValueRef, ValueRef] {
    const [values, indices] = this.op('TopK', [x, this.constInt64([k])], { axis: int(axis), largest: int(largest ? 1 : 0), sorted: int(1) }, { outputs: 2 });
    return [values, indices];
  }

  /** 2-D convolution, NCHW, weight [out, in/group, kh, kw]. */
  conv(x: ValueRef, w: ValueRef, b: ValueRef | undefined, options: { strides?: number[]; pads?: number[]; group?: number } = {}): ValueRef {
    const attrs: Record<string, AttributeValue> = {
      strides: ints(options.strides ?? [1, 1]),
      pads: ints(options.pads ?? [0, 0, 0, 0]),
    };
    if (options.group && options.group !== 1) attrs.group = int(options.group);
    return this.op1('Conv', b ? [x, w, b] : [x, w], attrs);
  }

  /** Constant padding, pads = [begin..., end...] over all axes. */
  pad(x: ValueRef, pads: number[]): ValueRef {
    return this.op1('Pad', [x, this.constInt64(pads)], { mode: str('constant') });
  }

  /** Nearest-neighbour resize by per-axis scales, matching PyTorch's `interpolate(mode='nearest')`. */
  resizeNearest(x: ValueRef, scales: number[]): ValueRef {
    return this.op1('Resize', [x, undefined, this.constFloat(scales)], {
      mode: str('nearest'),
      coordinate_transformation_mode: str('asymmetric'),
      nearest_mode: str('floor'),
    });
  }

  /** ONNX LayerNormalization over the trailing axes from `axis`. */
  layerNormalization(x: ValueRef, scale: ValueRef, bias: ValueRef | undefined, epsilon: number, axis = -1): ValueRef {
    return this.op1('LayerNormalization', bias ? [x, scale, bias] : [x, scale], { axis: int(axis), epsilon: float(epsilon) });
  }

  /** Microsoft contrib op; marks the model as using the com.microsoft domain. */
  microsoft(opType: string, inputs: (ValueRef | undefined)[], attributes: Record<string, AttributeValue> = {}): ValueRef {
    return this.op(opType, inputs, attributes, { domain: 'com.microsoft' })[0];
  }

  // ---- internals ---------------------------------------------------------------------------------------

  private constant(dtype: DType, dims: number[], values: TensorValues): ValueRef {
    const name = this.uniqueName('const');
    this.claim(name);
    this.initializers.push({ name, dtype, dims, values });
    return { name };
  }

  private addInitializer(name: string, dtype: DType, dims: number[], values: TensorValues | undefined): void {
    this.claim(name);
    this.initializers.push({ name, dtype, dims, values: this.keepInitializers ? values : undefined });
  }

  private uniqueName(base: string): string {
    const prefix = this.scopes.length ? `${this.scopes.join('.')}/` : '';
    this.counter += 1;
    return `${prefix}${base}_${this.counter}`;
  }

  private claim(name: string): void {
    if (this.taken.has(name)) {
      throw new Error(`Graph ${this.name}: the value name "${name}" is used twice. Each input, initializer and output needs a unique name.`);
    }
    this.taken.add(name);
  }
}

/** ONNX TensorProto.DataType code for a dtype. */
export function onnxType(dtype: DType): number {
  return { float32: 1, int32: 6, int64: 7, bool: 9, float16: 10 }[dtype];
}

/** Bytes an initializer takes in the side file (for budgeting, before data exists). */
export function initializerBytes(init: InitializerRecord): number {
  return elementCount(init.dims) * DTYPE_BYTES[init.dtype];
}

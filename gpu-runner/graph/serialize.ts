import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { AttributeValue, GraphModel, InitializerRecord, ValueInfo } from './builder.ts';
import { onnxType } from './builder.ts';
import { rawBytes } from './tensor-data.ts';

const { onnx } = onnxProto;

/** IR version we stamp: ORT 1.30 accepts 8..13; 10 covers opset 21. */
export const IR_VERSION = 10;
/** com.microsoft contrib-op set version. */
const MICROSOFT_OPSET = 1;
/** Side-file offsets are aligned so ORT may memory-map them. */
const EXTERNAL_ALIGNMENT = 4096;
/** Initializers at or below this size stay inside the .onnx file. */
const INLINE_MAX_BYTES = 1024;

type ExternalRef = { location: string; offset: number; length: number };

function attributeProto(name: string, attr: AttributeValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (attr.kind) {
    case 'int': return { name, type: T.INT, i: attr.value };
    case 'ints': return { name, type: T.INTS, ints: attr.value };
    case 'float': return { name, type: T.FLOAT, f: attr.value };
    case 'floats': return { name, type: T.FLOATS, floats: attr.value };
    case 'string': return { name, type: T.STRING, s: new TextEncoder().encode(attr.value) };
    case 'tensor': return { name, type: T.TENSOR, t: { dims: attr.dims, dataType: onnxType(attr.dtype), rawData: rawBytes(attr.values) } };
  }
}

function valueInfoProto(info: ValueInfo): onnxProto.onnx.IValueInfoProto {
  const shape = info.shape?.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name: info.name, type: { tensorType: { elemType: onnxType(info.dtype), shape: shape ? { dim: shape } : undefined } } };
}

function tensorProto(init: InitializerRecord, external: ExternalRef | undefined): onnxProto.onnx.ITensorProto {
  const base = { name: init.name, dims: init.dims, dataType: onnxType(init.dtype) };
  if (external) {
    return {
      ...base,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: external.location },
        { key: 'offset', value: String(external.offset) },
        { key: 'length', value: String(external.length) },
      ],
    };
  }
  if (!init.values) {
    throw new Error(`Initializer ${init.name} has no data: the graph was built with initializers 'discard', which is for weight enumeration only. Rebuild with initializers 'keep' to serialize it.`);
  }
  return { ...base, rawData: rawBytes(init.values) };
}

function modelProto(model: GraphModel, externals: Map<string, ExternalRef>): Uint8Array {
  const opsetImport = [{ domain: '', version: model.opset }];
  if (model.usesMicrosoftDomain) opsetImport.push({ domain: 'com.microsoft', version: MICROSOFT_OPSET });
  const message = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'ocd-graph',
    opsetImport,
    graph: {
      name: model.name,
      node: model.nodes.map((n) => ({
        opType: n.opType,
        domain: n.domain,
        name: n.name,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes).map(([k, v]) => attributeProto(k, v)),
      })),
      input: model.inputs.map(valueInfoProto),
      output: model.outputs.map(valueInfoProto),
      initializer: model.initializers.map((i) => tensorProto(i, externals.get(i.name))),
    },
  });
  return onnx.ModelProto.encode(message).finish();
}

/**
 * The model as one ONNX protobuf with every initializer embedded. Fine for small graphs and tests;
 * protobuf caps a message at 2 GB, so full-size UNets go through `saveModel`.
 */
export function serializeModel(model: GraphModel): Uint8Array {
  return modelProto(model, new Map());
}

/**
 * Writes `<dir>/<name>.onnx` plus `<dir>/<name>.onnx.data`. Initializers stream one by one into the side
 * file (aligned offset/length records), so only the builder's own copy of the weights is ever in memory.
 * ORT finds the side file next to the model when the session is created from the path.
 * @returns the path of the .onnx file.
 */
export function saveModel(model: GraphModel, dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const dataName = `${name}.onnx.data`;
  const externals = new Map<string, ExternalRef>();
  const fd = openSync(join(dir, dataName), 'w');
  try {
    let offset = 0;
    for (const init of model.initializers) {
      if (!init.values) {
        throw new Error(`Initializer ${init.name} has no data: the graph was built with initializers 'discard'. Rebuild with initializers 'keep' to save it.`);
      }
      const bytes = rawBytes(init.values);
      if (bytes.byteLength <= INLINE_MAX_BYTES) continue;
      const aligned = Math.ceil(offset / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
      if (aligned > offset) writeSync(fd, new Uint8Array(aligned - offset));
      writeSync(fd, bytes);
      externals.set(init.name, { location: dataName, offset: aligned, length: bytes.byteLength });
      offset = aligned + bytes.byteLength;
    }
  } finally {
    closeSync(fd);
  }
  const modelPath = join(dir, `${name}.onnx`);
  writeFileSync(modelPath, modelProto(model, externals));
  return modelPath;
}

/**
 * The input and output names of a saved .onnx file, read from its protobuf alone (the side file is not read),
 * so a caller can describe a graph without opening an onnxruntime session for it.
 */
export function readModelIO(path: string): { inputNames: string[]; outputNames: string[] } {
  const model = onnx.ModelProto.decode(readFileSync(path));
  const graph = model.graph;
  if (!graph) throw new Error(`${path} holds no graph`);
  const initializers = new Set((graph.initializer ?? []).map((i) => i.name));
  // older exporters list initializers among the inputs; they are not feeds
  return {
    inputNames: (graph.input ?? []).map((i) => String(i.name)).filter((n) => !initializers.has(n)),
    outputNames: (graph.output ?? []).map((o) => String(o.name)),
  };
}

/** A hand-built two-input ONNX model for runtime tests: sum = x + w (w = [1, 2, 3]), count = Size(ids). */
import { writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

function valueInfo(name: string, elemType: number, dims: Array<number | string>): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Writes the model to `path`. */
export function writeTinyModel(path: string): void {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'ocd-runtime-test',
    graph: {
      name: 'tiny',
      node: [
        { opType: 'Add', input: ['x', 'w'], output: ['sum'], name: 'add' },
        { opType: 'Size', input: ['ids'], output: ['count'], name: 'size' },
      ],
      initializer: [{ name: 'w', dataType: FLOAT, dims: [3], floatData: [1, 2, 3] }],
      input: [valueInfo('x', FLOAT, ['batch', 3]), valueInfo('ids', INT64, ['n'])],
      output: [valueInfo('sum', FLOAT, ['batch', 3]), valueInfo('count', INT64, [])],
    },
  });
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
}

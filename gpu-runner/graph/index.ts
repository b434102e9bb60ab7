/** ONNX graph building in TypeScript: the builder, tensor data helpers and serialization. */
export * from './builder.ts';
export * from './tensor-data.ts';
export * from './serialize.ts';
export * from './float16.ts';

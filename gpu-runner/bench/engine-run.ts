/**
 * One benchmark run in its own process (so peak RSS and sessions belong to one preset): load the model, warm the
 * VAE at the working size, edit the clip end to end, dump frames/latents for the quality measures, print JSON.
 *
 *   tsx gpu-runner/bench/engine-run.ts '<json RunSpec>'
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EditRequest } from '../../shared/edit-request.ts';
import { editVideoFile, loadEditModel, resolveOptions } from '../engine/index.ts';

export interface RunSpec {
  modelDir: string;
  cacheDir: string;
  clipPath: string;
  maskPath?: string;
  request: EditRequest;
  outDir: string;
  threads?: number;
  weightStorage?: 'float32' | 'float16';
  /** UNet attention query chunk (bounded memory at 512 px). */
  attentionQueryChunk?: number;
  /** ControlVideo runs: the ControlNet folder, and a control video when the control is one. */
  controlnetDir?: string;
  controlPath?: string;
}

export interface RunOutput {
  report: import('../engine/report.ts').EditReport;
  loadSeconds: number;
  dims: number[];
  width: number;
  height: number;
  frames: number;
}

async function main(spec: RunSpec): Promise<void> {
  const start = performance.now();
  const model = await loadEditModel(spec.modelDir, { provider: 'cpu', cacheDir: spec.cacheDir, threads: spec.threads, weightStorage: spec.weightStorage, attentionQueryChunk: spec.attentionQueryChunk, controlnetDir: spec.controlnetDir });
  const options = resolveOptions(spec.request, { hasMaskVideo: !!spec.maskPath, hasControlVideo: !!spec.controlPath });
  const size = options.size ?? model.facts.defaultSize;
  // warm the VAE sessions at this size so their creation does not count as encode/decode time
  const s = model.facts.vaeScaleFactor;
  const latent = await model.encodeImages({ data: new Float32Array(3 * size * size), dims: [1, 3, size, size] });
  await model.decodeLatents({ data: new Float32Array(latent.data.length), dims: [1, model.facts.latentChannels, size / s, size / s] });
  const loadSeconds = (performance.now() - start) / 1000;
  mkdirSync(spec.outDir, { recursive: true });
  const result = await editVideoFile({ inputPath: spec.clipPath, maskPath: spec.maskPath, controlPath: spec.controlPath, outDir: spec.outDir, options, model, keepData: true });
  const data = result.data!;
  const dump = (name: string, arrays: ArrayLike<number>[] | Float32Array) => {
    const buffers = Array.isArray(arrays) ? arrays.map((a) => Buffer.from((a as Uint8Array).buffer, (a as Uint8Array).byteOffset, (a as Uint8Array).byteLength)) : [Buffer.from(arrays.buffer, arrays.byteOffset, arrays.byteLength)];
    writeFileSync(join(spec.outDir, name), Buffer.concat(buffers));
  };
  dump('output.rgb', data.output);
  dump('input.rgb', data.input);
  dump('edited.f32', data.latents.edited);
  dump('source.f32', data.latents.source);
  if (data.latentMask) dump('mask.f32', data.latentMask);
  await model.dispose();
  const out: RunOutput = { report: result.report, loadSeconds: loadSeconds + (result.report.stages.load ?? 0), dims: data.latents.dims, width: data.width, height: data.height, frames: data.output.length };
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
}

await main(JSON.parse(process.argv[2]) as RunSpec);

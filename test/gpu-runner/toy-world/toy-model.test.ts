/**
 * The shipped toy model against PyTorch: the trainer ran each exported component on fixed inputs
 * (`test/fixtures/toy-model/reference.safetensors`, written by trainer/train.py from the exported files) and
 * our TypeScript graphs must give the same outputs within 1e-4. Also checks the folder loads, stays within the
 * size budget, and that our tokenizer gives the trainer's token ids for a toy caption.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPromptTokenizer } from '../../../gpu-runner/engine/tokenizer.ts';
import { componentGraph, type ComponentName } from '../../../gpu-runner/models/bundle/component-graphs.ts';
import { loadModelFolder, type ModelFolder } from '../../../gpu-runner/models/bundle/model-folder.ts';
import { createSession, disposeAllSessions, runSession } from '../../../gpu-runner/runtime/session.ts';
import { float32Tensor, int64Tensor, tensorToFloat32, type TensorMap } from '../../../gpu-runner/runtime/tensors.ts';
import { TOY_MODEL_DIR } from '../../../gpu-runner/toy-world/model.ts';
import { float32Of, integersOf, readSafetensorsLite, tensorOf } from '../../support/safetensors-lite.ts';
import { REPO_ROOT } from '../../support/paths.ts';

const REFERENCE = readSafetensorsLite(join(REPO_ROOT, 'test/fixtures/toy-model/reference.safetensors'));
const scratch = mkdtempSync(join(tmpdir(), 'ocd-toy-model-'));
let model: ModelFolder;

beforeAll(() => {
  model = loadModelFolder(TOY_MODEL_DIR);
});
afterAll(async () => {
  model.dispose();
  await disposeAllSessions();
  rmSync(scratch, { recursive: true, force: true });
});

function folderBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? folderBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0);
}

/** Runs one component graph on the reference inputs; returns the largest absolute difference per output. */
async function maxErrors(component: ComponentName, inputs: readonly string[], outputs: Readonly<Record<string, string>>): Promise<Record<string, number>> {
  const first = tensorOf(REFERENCE, `${component}.input.${inputs[0]}`).shape;
  const spatial = component === 'text_encoder' ? {} : { height: first[2], width: first[3] };
  const graph = await componentGraph(model, component, join(scratch, 'cache'), spatial);
  const session = await createSession(graph.path, { provider: 'cpu', intraOpNumThreads: 1 });
  const feeds: TensorMap = {};
  for (const name of inputs) {
    const t = tensorOf(REFERENCE, `${component}.input.${name}`);
    feeds[name] = t.dtype === 'I64' ? int64Tensor(integersOf(REFERENCE, `${component}.input.${name}`), t.shape) : float32Tensor(float32Of(REFERENCE, `${component}.input.${name}`), t.shape);
  }
  const out = await runSession(session, feeds);
  const errors: Record<string, number> = {};
  for (const [graphName, fileName] of Object.entries(outputs)) {
    const want = float32Of(REFERENCE, `${component}.output.${fileName}`);
    const got = tensorToFloat32(out[graphName]);
    expect(got.length).toBe(want.length);
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(got[i] - want[i]));
    errors[fileName] = max;
  }
  return errors;
}

describe('the shipped toy model', () => {
  it('loads as a diffusers SD1.x folder and stays within 25 MB', () => {
    expect(model.unet.config.block_out_channels.length).toBeGreaterThan(1);
    expect(model.vae.config.sample_size).toBe(64);
    expect(folderBytes(TOY_MODEL_DIR)).toBeLessThanOrEqual(25 * 1024 * 1024);
  });

  it('tokenizes the reference captions to the trainer\'s ids', () => {
    const tokenizer = openPromptTokenizer(model.tokenizer.vocabPath, model.tokenizer.mergesPath);
    const ids = integersOf(REFERENCE, 'text_encoder.input.input_ids');
    const captions = JSON.parse(readSafetensorsMetadata().captions) as string[];
    captions.forEach((text, i) => expect(tokenizer.encodeForModel(text).ids).toEqual(ids.slice(i * 77, (i + 1) * 77)));
  });

  it.each([
    ['text_encoder', ['input_ids'], { last_hidden_state: 'last_hidden_state' }],
    ['unet', ['sample', 'timestep', 'encoder_hidden_states'], { out_sample: 'sample' }],
    ['vae_encoder', ['sample'], { latent_dist_mean: 'latent_dist_mean', latent_dist_logvar: 'latent_dist_logvar' }],
    ['vae_decoder', ['latent'], { sample: 'sample' }],
  ] as const)('%s matches the PyTorch forward within 1e-4', async (component, inputs, outputs) => {
    const errors = await maxErrors(component, inputs, outputs);
    for (const [name, error] of Object.entries(errors)) expect(error, `${component} ${name}`).toBeLessThan(1e-4);
  }, 120_000);
});

/** The reference file's `__metadata__` (captions the trainer encoded). */
function readSafetensorsMetadata(): Record<string, string> {
  const file = readFileSync(join(REPO_ROOT, 'test/fixtures/toy-model/reference.safetensors'));
  const length = Number(file.readBigUInt64LE(0));
  return (JSON.parse(file.subarray(8, 8 + length).toString('utf8')) as { __metadata__: Record<string, string> }).__metadata__;
}

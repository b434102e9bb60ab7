/**
 * How well the `auto` saliency mask finds the object on the sample toy clip (the quick start's edit): runs the
 * engine on the clip as the quick start does and compares the mask with the toy world's ground-truth object
 * masks at latent resolution. Prints JSON: area, IoU, and the share of the object the mask covers (recall).
 *
 *   tsx scripts/auto-mask-quality.ts [--threshold 0.3] [--dilate 2] [--steps N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveEditOptions } from '../shared/edit-request.ts';
import { loadEditModel } from '../gpu-runner/engine/load-model.ts';
import { runEdit } from '../gpu-runner/engine/pipeline.ts';
import { TOY_MODEL_DIR } from '../gpu-runner/toy-world/model.ts';
import { renderClip } from '../gpu-runner/toy-world/render.ts';
import { sampleClipParams, sampleExampleEdits } from '../gpu-runner/toy-world/sample.ts';
import { maskAgreement, objectMaskAtLatent } from '../gpu-runner/engine/mask-quality.ts';

const { values } = parseArgs({ options: { threshold: { type: 'string' }, dilate: { type: 'string' }, steps: { type: 'string' }, edit: { type: 'string' } } });
const params = sampleClipParams();
const clip = renderClip(params);
const edit = sampleExampleEdits()[Number(values.edit ?? 0)];
const options = resolveEditOptions({
  sourcePrompt: edit.sourcePrompt,
  targetPrompt: edit.targetPrompt,
  preset: 'ocd',
  ...(values.steps ? { sampler: { steps: Number(values.steps) }, inversion: { steps: Number(values.steps) } } : {}),
  ocd: { ...(values.threshold ? { maskThreshold: Number(values.threshold) } : {}), ...(values.dilate ? { dilate: Number(values.dilate) } : {}) },
});
const cacheDir = mkdtempSync(join(tmpdir(), 'ocd-mask-quality-'));
const model = await loadEditModel(TOY_MODEL_DIR, { provider: 'cpu', cacheDir });
try {
  const started = Date.now();
  const result = await runEdit({ input: { frames: clip.frames.map((f) => f.rgb), width: clip.size, height: clip.size }, options, model });
  const { latentWidth: w, latentHeight: h } = result.report.size;
  const truth = objectMaskAtLatent(clip.frames.map((f) => f.mask), clip.size, clip.size, h, w);
  const agreement = result.latentMask ? maskAgreement(result.latentMask, truth) : null;
  console.log(JSON.stringify({ edit: edit.label, ranAs: result.report.ranAs, note: result.report.note, mask: result.report.mask, truthArea: truth.reduce((a, b) => a + b, 0) / truth.length, agreement, seconds: (Date.now() - started) / 1000 }));
} finally {
  await model.dispose();
  rmSync(cacheDir, { recursive: true, force: true });
}

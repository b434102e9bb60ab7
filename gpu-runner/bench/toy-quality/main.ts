/**
 * `npm run bench:quality`: the toy-world quality benchmark (issue 14) on the embedded toy model (or --model):
 * held-out clips x edits (colour, shape, background colour) x presets, scored against ground truth; VAE
 * reconstruction; text-to-image on held-out captions. Prints the tables, saves JSON under <cache>/bench and
 * rewrites the "## Toy-world quality (issue 14)" section of BENCHMARKS.md.
 *
 *   npm run bench:quality -- [--clips 3] [--captions 24] [--vae-clips 8] [--presets fatezero,optimized,ocd]
 *                            [--sweep] [--model DIR] [--threads N] [--no-write]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadEditModel } from '../../engine/index.ts';
import { resolveCacheDir } from '../../models/bundle/cache-dir.ts';
import { defaultModelDir } from '../../toy-world/model.ts';
import { clipParams } from '../../toy-world/world.ts';
import { formatQualityReport, replaceMarkdownSection, type QualityReport } from './report.ts';
import {
  EDIT_KINDS, benchEdit, benchSeeds, runBenchEdit, scoreEdit, textToImage, vaeReconstruction, type EditScore, type QualityPreset,
} from './run.ts';
import { framesToTensor, tensorToFrames } from '../../video/frames.ts';
import { truthFrames } from './scoring.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const QUALITY_SECTION = '## Toy-world quality (issue 14)';

const PRESETS: Record<string, QualityPreset> = {
  fatezero: { label: 'fatezero', request: { preset: 'fatezero' } },
  optimized: { label: 'optimized', request: { preset: 'optimized' } },
  ocd: { label: 'ocd', request: { preset: 'ocd' } },
};

/** ocd settings the --sweep adds (background mode, merge ratios, foreground schedule). */
const SWEEP: QualityPreset[] = [
  { label: 'ocd inversion-bg', request: { preset: 'ocd', ocd: { background: 'inversion' } } },
  { label: 'ocd gamma 0.25', request: { preset: 'ocd', ocd: { gamma: 0.25 } } },
  { label: 'ocd no ToMe', request: { preset: 'ocd', tome: { enabled: false } } },
  { label: 'ocd 10 steps', request: { preset: 'ocd', sampler: { steps: 10 } } },
];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      clips: { type: 'string' }, captions: { type: 'string' }, 'vae-clips': { type: 'string' }, presets: { type: 'string' },
      sweep: { type: 'boolean' }, model: { type: 'string' }, threads: { type: 'string' }, 'no-write': { type: 'boolean' },
      'cache-dir': { type: 'string' },
    },
  });
  const cacheDir = resolveCacheDir(values['cache-dir']);
  const modelDir = resolve(defaultModelDir(values.model ?? process.env.OCD_MODEL_DIR));
  const presets = (values.presets ?? 'fatezero,optimized,ocd').split(',').map((name) => {
    const preset = PRESETS[name.trim()];
    if (!preset) throw new Error(`unknown preset '${name}'; presets: ${Object.keys(PRESETS).join(', ')}`);
    return preset;
  });
  if (values.sweep) presets.push(...SWEEP);
  const clips = Number(values.clips ?? 3);
  const log = (line: string) => console.error(line);
  const started = new Date();
  const workDir = join(cacheDir, 'bench');
  mkdirSync(workDir, { recursive: true });
  const model = await loadEditModel(modelDir, { provider: 'cpu', cacheDir, threads: values.threads ? Number(values.threads) : undefined });
  try {
    log('VAE reconstruction…');
    const vae = await vaeReconstruction(model, benchSeeds(Number(values['vae-clips'] ?? 8)));
    log(`  ${vae.psnr.toFixed(2)} dB`);
    log('text-to-image on held-out captions…');
    const t2i = await textToImage(model, Number(values.captions ?? 24));
    const edits: EditScore[] = [];
    const references: EditScore[] = [];
    const outputs: Uint8Array[] = [];
    for (const seed of benchSeeds(clips)) {
      for (const kind of EDIT_KINDS) {
        const edit = benchEdit(clipParams(seed), kind);
        // reference rows: the input left unchanged, and the ground truth through the VAE (the ceiling)
        const source = truthFrames(edit.source).map((t) => t.rgb);
        references.push({ ...scoreEdit(source, edit), preset: 'input unchanged', seconds: 0, unetCalls: 0 });
        const truth = truthFrames(edit.target).map((t) => t.rgb);
        const size = edit.target.size;
        const z = await model.encodeImages({ data: framesToTensor(truth, size, size), dims: [truth.length, 3, size, size] });
        const roundTrip = tensorToFrames((await model.decodeLatents(z)).data, truth.length, size, size);
        references.push({ ...scoreEdit(roundTrip, edit), preset: 'ground truth through the VAE', seconds: 0, unetCalls: 0 });
        for (const preset of presets) {
          log(`edit ${seed} ${kind} (${edit.fromWord} -> ${edit.toWord}) ${preset.label}…`);
          const { score, frames } = await runBenchEdit(model, edit, preset);
          outputs.push(...frames);
          log(`  success ${score.success}, bg ${score.backgroundPsnr?.toFixed(1)} dB, ${score.seconds.toFixed(1)} s`);
          edits.push(score);
        }
      }
    }
    const report: QualityReport = {
      modelDir: modelDir.startsWith(REPO_ROOT) ? modelDir.slice(REPO_ROOT.length + 1) : modelDir,
      machine: `${cpus().length} vCPU (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, onnxruntime-node CPU`,
      started: started.toISOString().slice(0, 16).replace('T', ' '),
      command: `npm run bench:quality -- ${process.argv.slice(2).join(' ')}`.trim(),
      vae, t2i: { scores: t2i.scores, seconds: t2i.seconds }, edits, references, presets: presets.map((p) => p.label),
    };
    writeFileSync(join(workDir, 'toy-quality.json'), JSON.stringify(report, null, 2));
    // the generated images, raw RGB24 64x64 one after another (for a look: ffmpeg -f rawvideo -pix_fmt rgb24 ...)
    writeFileSync(join(workDir, 'toy-quality-t2i.rgb'), Buffer.concat(t2i.images));
    writeFileSync(join(workDir, 'toy-quality-edits.rgb'), Buffer.concat(outputs));
    const markdown = formatQualityReport(report);
    console.log(markdown);
    if (!values['no-write']) {
      const path = join(REPO_ROOT, 'BENCHMARKS.md');
      writeFileSync(path, replaceMarkdownSection(readFileSync(path, 'utf8'), QUALITY_SECTION, markdown));
      log(`wrote the "${QUALITY_SECTION}" section of BENCHMARKS.md`);
    }
  } finally {
    await model.dispose();
  }
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main();

/**
 * `npm run bench`: the editing presets (issue 3) on a real clip with (a) the tiny bundle and, with `--sd15`,
 * (b) a random-weight bundle of the real SD1.5 configs; prints the tables and writes them into BENCHMARKS.md
 * (only the "## Editing presets (issue 3)" section).
 *
 *   npm run bench -- [--sd15] [--sd15-steps N] [--clip car-turn] [--frames 8] [--size 256] [--no-sweep] [--no-write]
 *   npm run bench -- --no-tiny          (rewrites the section from the tables saved under <cache>/bench)
 *   npm run bench -- --tome [--size 128] [--steps N]   (only the token-merging scope comparison, issue 11, on the tiny
 *                                       bundle at N steps; writes its own section)
 *   npm run bench -- --controlvideo [--frames 15] [--long-frames 48] [--size 256] [--steps N]
 *       (ControlVideo's three presets on the tiny bundle and its random ControlNet, canny control; writes its own
 *       section)
 *   npm run bench -- --sd15 --no-tiny --size 512 --fatezero-profile 5 [--attention-chunk 1024] [--check-estimate]
 *       (512 px: fatezero estimated from a 5-step profile, attention in query chunks; --check-estimate also runs
 *       fatezero in full to compare, meant for 256 px)
 *   --reuse-runs   keeps a run whose saved result has the same request (resumes a bench that a failure stopped)
 *   --ocd-before   adds a row: ocd with its token merging before clip scope (frame scope, ratio [0.75, 0.5])
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { EditRequest } from '../../shared/edit-request.ts';
import { CLIP_VOCAB_GZ, CLIPS_DIR } from '../assets.ts';
import { resolveCacheDir } from '../models/bundle/cache-dir.ts';
import { ensureRandomSD15Bundle } from '../models/bundle/sd15.ts';
import { ensureTinyBundle } from '../models/bundle/tiny.ts';
import { benchPresets, type ClipEntry, formatPresetBench, type PresetBenchResult } from './engine-bench.ts';
import { benchTomeScopes, formatTomeBench, OCD_BEFORE_TOME } from './tome-bench.ts';
import { benchControlVideo, formatControlVideoBench } from './controlvideo-bench.ts';
import { writeAtomically, writeControlNetFolder } from '../models/bundle/bundle-writer.ts';
import { TINY_CONTROLNET_CONFIG } from '../models/bundle/sd-configs.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SECTION = '## Editing presets (issue 3)';
const TOME_SECTION = '## Token merging scope (issue 11)';
const CONTROLVIDEO_SECTION = '## ControlVideo presets (issue 13)';

/** ocd settings the sweep tries (besides the preset's defaults). */
const SWEEP: Partial<EditRequest>[] = [
  { ocd: { gamma: 0.5, phi: 0.25, background: 'inversion' } },
  { ocd: { gamma: 0.75, phi: 0.25, background: 'coarse' } },
  { ocd: { gamma: 0.75, phi: 0.25, background: 'inversion' } },
  { ocd: { gamma: 0.25, phi: 0.5, background: 'coarse' } },
  { ocd: { gamma: 0.5, phi: 0.5, background: 'coarse' } },
  { ocd: { gamma: 0.5, phi: 0.25, background: 'coarse' }, tome: { ratio: [0.7, 0.85] } },
  { ocd: { gamma: 0.75, phi: 0.25, background: 'inversion' }, tome: { ratio: [0.7, 0.85] } },
];

/** Reading of the tables and what would close the gaps (kept with the tables; see the columns named). */
const NOTES = `### Where the time goes, and what would close the gaps

- Per UNet call (the \`inversion\` and \`edit\` columns divided by the steps), \`fatezero\`'s inversion costs more than the
  other presets': it records every controlled map of every step in float32 into host memory, as FateZero does. With
  the step counts (50/20 = 2.5x for inversion and edit) that is where \`optimized\`'s speed-up comes from; the fixed
  stages (decode, VAE encode/decode, encode) are a few percent of \`fatezero\`'s time at the default steps.
- Token merging pays off only where attention is a large share of a UNet call. At 256 px the highest level holds 1024
  tokens per frame and attention is ~5% of the FLOPs (environment.md), so merging there saves little next to the
  in-graph matching and the gather/scatter of merge/unmerge; at 512 px (4096 tokens, 16% attention), or on a GPU
  where attention's memory traffic dominates, it saves more. \`--set tome.enabled=false\` measures it on a given machine.
- Object-centric sampling saves little at 256 px: the foreground box is rounded to a multiple of 8 latent pixels, so a
  central-quarter mask (39% after dilation) still crops 24x24 of the 32x32 latent, and its background branch adds calls.
  The \`inversion\` background (no background UNet calls) is the fastest setting the sweep finds within the fidelity bound.
- Store bytes: \`fatezero\` keeps every map of every step in float32 (as FateZero does); \`optimized\`/\`ocd\` keep only the
  maps editing reads, in float16. Peak RSS at SD1.5 scale is dominated by sessions: every UNet graph variant (record,
  edit, and for \`ocd\` the foreground crop) holds its own copy of the weights; sharing initializers between sessions
  (onnxruntime's prepacked-weights container) or releasing the record session after inversion would close that.
- Background error here is measured on random weights, where edits change the whole latent; it ranks settings, it does
  not grade pictures.`;

/** Reading of the token-merging scope table (kept with it). */
const TOME_NOTES = `The SD1.5-config comparison (random weights, 8 frames, 256 px: \`ocd\` with clip-scope merging against "ocd before",
the frame-scope [0.75, 0.5] it replaced) is a row of the SD1.5 preset table (\`npm run bench -- --sd15 --ocd-before\`,
section "Editing presets"). On the tiny bundle attention is a small share of a UNet call, and on a loaded shared machine
the same setting can take 3x longer from one run to the next, so the time and speed-up columns here rank nothing; the
merge counts and the quality columns (deterministic for a given seed) are what this table establishes.`;

/** How to read the ControlVideo table (written with it; a reading of one run's numbers belongs beside that run only). */
const CONTROLVIDEO_NOTES = `How to read it: with \`--steps N\` every preset runs N sampler steps instead of its default, so the rows are a
per-call profile, not the end-to-end comparison of the presets' defaults; \`controlvideo-ocd\`'s extra call is the
\`auto\` mask's probe (one per run, whatever the steps). Merged rows use clip-scope token merging in the UNet's and the
ControlNet's cross-frame attention. The long-clip row asks for \`--long-frames\` frames; the clip may give fewer with the
preset's frame selection (the frames column says how many ran), and the hierarchical sampler runs them; object-centric
sampling is not combined with it, so that row runs as \`controlvideo-optimized\`. The SD1.5-config UNet + ControlNet is
not run by this flag (hours on a 2-vCPU machine).`;

/** Replaces (or appends) our section of BENCHMARKS.md, leaving the other sections as they are. */
export function replaceSection(markdown: string, body: string, section = SECTION): string {
  const start = markdown.indexOf(section);
  const block = `${section}\n\n${body.trim()}\n`;
  if (start < 0) return `${markdown.trimEnd()}\n\n${block}`;
  const next = markdown.indexOf('\n## ', start + section.length);
  return `${markdown.slice(0, start)}${block}${next < 0 ? '' : `\n${markdown.slice(next + 1)}`}`;
}

/**
 * Writes one section of BENCHMARKS.md: what produced it, the machine and the run's start and load, the table and its
 * reading notes.
 */
function writeSection(section: string, producedBy: readonly string[], table: string, notes: string, run: { started: Date; load: number }): void {
  const path = join(REPO_ROOT, 'BENCHMARKS.md');
  const header = [
    ...producedBy,
    `- machine: ${cpus().length} vCPU (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, onnxruntime-node CPU provider, shared with other work (timings are indicative)`,
    `- run: ${run.started.toISOString().slice(0, 16).replace('T', ' ')} UTC, load average at the start ${run.load.toFixed(1)} on ${cpus().length} vCPU`,
  ].join('\n');
  const current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  writeFileSync(path, replaceSection(current, [header, table, notes].join('\n\n'), section));
  console.error(`bench: wrote ${path}`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      sd15: { type: 'boolean' }, 'sd15-steps': { type: 'string' }, clip: { type: 'string' }, frames: { type: 'string' },
      size: { type: 'string' }, 'no-sweep': { type: 'boolean' }, 'no-write': { type: 'boolean' }, 'cache-dir': { type: 'string' },
      'no-tiny': { type: 'boolean' }, tome: { type: 'boolean' }, steps: { type: 'string' },
      'fatezero-profile': { type: 'string' }, 'check-estimate': { type: 'boolean' },
      'attention-chunk': { type: 'string' }, 'ocd-before': { type: 'boolean' }, 'reuse-runs': { type: 'boolean' },
      controlvideo: { type: 'boolean' }, 'long-frames': { type: 'string' },
    },
  });
  const cacheDir = resolveCacheDir(values['cache-dir']);
  const manifest = JSON.parse(readFileSync(join(CLIPS_DIR, 'manifest.json'), 'utf8')) as ClipEntry[];
  const clip = manifest.find((c) => c.id === (values.clip ?? 'car-turn'));
  if (!clip) {
    console.error(`bench: unknown clip '${values.clip}'; clips: ${manifest.map((c) => c.id).join(', ')}`);
    return 2;
  }
  const frames = Number(values.frames ?? 8);
  const size = values.size ? Number(values.size) : 256;
  const positive = (name: string, value: string | undefined): number | null => {
    if (value === undefined) return null;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bench: --${name} must be a positive integer, got '${value}'`);
    return n;
  };
  const fatezeroProfileSteps = positive('fatezero-profile', values['fatezero-profile']);
  // at 512 px a frame has 4096 tokens: chunk attention so no score matrix holds more than 1024 query rows
  const attentionQueryChunk = positive('attention-chunk', values['attention-chunk']) ?? (size >= 512 ? 1024 : undefined);
  // --ocd-before: one more row, ocd with the token merging it had before clip scope (issue 11's comparison)
  const extraOcd = values['ocd-before'] ? [{ name: 'ocd before', knobs: { tome: OCD_BEFORE_TOME } }] : [];
  const big = { fatezeroProfileSteps, checkEstimate: values['check-estimate'] ?? false, attentionQueryChunk, extraOcd, reuseRuns: values['reuse-runs'] ?? false };
  const bpe = CLIP_VOCAB_GZ;
  const workDir = join(cacheDir, 'bench');
  const log = (line: string) => console.error(line);
  const results: PresetBenchResult[] = [];
  const started = new Date();
  const startLoad = loadavg()[0];

  if (values.tome) {
    // SD1.5-config runs of this comparison need a quiet machine; this runs the tiny bundle only.
    const modelDir = ensureTinyBundle({ cacheDir, bpeVocabGzPath: bpe });
    const steps = values.steps ? Number(values.steps) : null;
    const config = { label: 'tiny bundle', modelDir, cacheDir, clipsDir: CLIPS_DIR, clip, frames, size, workDir, steps, log };
    log('bench: token-merging scope (tiny bundle)');
    const table = formatTomeBench(config, await benchTomeScopes(config));
    console.log(table);
    if (!values['no-write']) {
      writeSection(TOME_SECTION, [
        'Produced by `npm run bench -- --tome` (`gpu-runner/bench/tome-bench.ts`): the `ocd` preset with each token-merging',
        'setting, each run in its own process on the same clip, box mask video and machine; graph load is not counted.',
      ], table, TOME_NOTES, { started, load: startLoad });
    }
    return 0;
  }

  if (values.controlvideo) {
    // the SD1.5-config run (UNet + ControlNet, 15 frames, 50 DDIM steps) takes hours on this machine: tiny bundle only
    const modelDir = ensureTinyBundle({ cacheDir, bpeVocabGzPath: bpe });
    const controlnetDir = writeAtomically(join(cacheDir, 'models', 'tiny-controlnet-0'), (tmp) => writeControlNetFolder(tmp, TINY_CONTROLNET_CONFIG, { seed: 0 }));
    const cvFrames = Number(values.frames ?? 15);
    const config = {
      label: 'tiny bundle + tiny ControlNet', modelDir, controlnetDir, cacheDir, clipsDir: CLIPS_DIR, clip, frames: cvFrames,
      longFrames: Number(values['long-frames'] ?? 48), size, workDir, steps: values.steps ? Number(values.steps) : null, log,
    };
    const table = formatControlVideoBench(config, await benchControlVideo(config));
    console.log(table);
    if (!values['no-write']) {
      writeSection(CONTROLVIDEO_SECTION, [
        'Produced by `npm run bench -- --controlvideo` (`gpu-runner/bench/controlvideo-bench.ts`): each preset in its own process on',
        'the same clip, end to end (decode, text, sampling, VAE decode, encode; graph building and session creation apart, in "graph',
        'load"). Speed-ups and RSS ratios are over `controlvideo` in the same run. Random weights: pictures mean nothing.',
      ], table, CONTROLVIDEO_NOTES, { started, load: startLoad });
    }
    return 0;
  }

  if (!values['no-tiny']) {
    const modelDir = ensureTinyBundle({ cacheDir, bpeVocabGzPath: bpe });
    log('bench (a): tiny bundle');
    results.push(await benchPresets({ label: 'tiny bundle', modelDir, cacheDir, clipsDir: CLIPS_DIR, clip, frames, size, workDir, sweep: values['no-sweep'] ? [] : SWEEP, log, ...big }));
    console.log(formatPresetBench(results[results.length - 1]));
  }
  if (values.sd15) {
    log('bench (b): random-weight SD1.5-config bundle (generated on first use, ~4.3 GB)');
    const modelDir = ensureRandomSD15Bundle({ cacheDir, bpeVocabGzPath: bpe });
    const steps = values['sd15-steps'] ? Number(values['sd15-steps']) : null;
    const label = size === 256 ? 'SD1.5 configs, random weights' : `SD1.5 configs, random weights, ${size} px`;
    results.push(await benchPresets({ label, modelDir, cacheDir, clipsDir: CLIPS_DIR, clip, frames, size, workDir, steps, weightStorage: 'float16', log, ...big }));
    console.log(formatPresetBench(results[results.length - 1]));
  }

  // With --no-tiny and no --sd15 nothing runs: the section is recomposed from the saved tables.
  if (!values['no-write']) {
    const path = join(REPO_ROOT, 'BENCHMARKS.md');
    const header = [
      'Produced by `npm run bench` (`gpu-runner/bench/main.ts`): each preset runs in its own process on the same clip and',
      'machine, end to end (decode, text, VAE encode, inversion, edit, VAE decode, encode); graph building and session',
      'creation are reported apart ("graph load") and not counted. Speed-ups are over `fatezero` in the same run.',
      'Quality: "bg error" = RMS latent change outside the dilated mask (lower is better), PSNR of the decoded output',
      'against fatezero\'s, temporal = mean 1 - |frame_t - frame_t-1| / 255. Random weights: the pictures mean nothing,',
      'the costs and mechanics are real.',
      '',
      `- machine: ${cpus().length} vCPU (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, onnxruntime-node CPU provider`,
      `- section composed: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC (tables from the latest run of each bench; tiny and SD1.5 ran separately)`,
    ].join('\n');
    // each bench's table is kept under the cache, so separate invocations (tiny now, SD1.5 later) combine
    for (const r of results) writeFileSync(join(workDir, `${r.config.label.replace(/[^a-z0-9]+/gi, '-')}.md`), formatPresetBench(r));
    const parts = ['tiny bundle', 'SD1.5 configs, random weights', 'SD1.5 configs, random weights, 512 px']
      .map((label) => join(workDir, `${label.replace(/[^a-z0-9]+/gi, '-')}.md`))
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file, 'utf8'));
    const body = [header, ...parts, NOTES].join('\n\n');
    const current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
    writeFileSync(path, replaceSection(current, body));
    log(`bench: wrote ${path}`);
  }
  return 0;
}

process.exitCode = await main();

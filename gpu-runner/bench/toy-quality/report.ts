/** Markdown tables of the toy-world quality benchmark, and the rules they were scored by (in words). */
import type { EditScore, TextToImageScore } from './run.ts';
import { EDIT_KINDS } from './run.ts';

export interface QualityReport {
  readonly modelDir: string;
  readonly machine: string;
  readonly started: string;
  readonly command: string;
  readonly vae: { psnr: number; perClip: number[]; seconds: number };
  readonly t2i: { scores: TextToImageScore[]; seconds: number };
  readonly edits: EditScore[];
  readonly references: EditScore[];
  readonly presets: string[];
}

const mean = (xs: readonly number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);
const fmt = (x: number | null, digits = 1): string => (x === null ? '–' : Number.isFinite(x) ? x.toFixed(digits) : '∞');
const pct = (ok: number, n: number): string => (n === 0 ? '–' : `${Math.round((100 * ok) / n)}% (${ok}/${n})`);

/** Finite values only: an identical region (PSNR ∞) is capped at 60 dB so one perfect clip cannot hide the rest. */
const capped = (xs: readonly (number | null)[]): number[] => xs.filter((x): x is number => x !== null).map((x) => Math.min(x, 60));

function rowOf(label: string, scores: readonly EditScore[], baselineSeconds: number | null): string {
  const byKind = (kind: string) => scores.filter((s) => s.kind === kind);
  const success = EDIT_KINDS.map((kind) => pct(byKind(kind).filter((s) => s.success).length, byKind(kind).length));
  const bg = mean(capped(scores.map((s) => s.backgroundPsnr)));
  const bgColour = mean(capped(byKind('colour').map((s) => s.backgroundPsnr)));
  const obj = mean(capped(scores.map((s) => s.objectPsnr)));
  const temporal = mean(scores.map((s) => s.temporal ?? 0));
  const secs = mean(scores.map((s) => s.seconds));
  const speed = baselineSeconds && secs ? `${(baselineSeconds / secs).toFixed(2)}x` : '–';
  return `| ${label} | ${success.join(' | ')} | ${fmt(bg)} | ${fmt(bgColour)} | ${fmt(obj)} | ${fmt(temporal, 3)} | ${secs ? fmt(secs) : '–'} | ${speed} |`;
}

/** Replaces (or appends) the section headed `heading` of a markdown file, leaving the others as they are. */
export function replaceMarkdownSection(markdown: string, heading: string, body: string): string {
  const start = markdown.indexOf(heading);
  const block = `${heading}\n\n${body.trim()}\n`;
  if (start < 0) return `${markdown.trimEnd()}\n\n${block}`;
  const next = markdown.indexOf('\n## ', start + heading.length);
  return `${markdown.slice(0, start)}${block}${next < 0 ? '' : `\n${markdown.slice(next + 1)}`}`;
}

/** The section body: setup, rules, model quality, the edit table. */
export function formatQualityReport(r: QualityReport): string {
  const t2i = r.t2i.scores;
  const clips = new Set(r.edits.map((e) => e.seed)).size;
  const fatezero = r.edits.filter((e) => e.preset === 'fatezero');
  const baseline = fatezero.length ? mean(fatezero.map((e) => e.seconds)) : null;
  const header = '| setting | colour edit success | shape edit success | background edit success | bg PSNR (dB) | bg PSNR, colour edits (dB) | object PSNR (dB) | temporal | s / edit | speed-up vs fatezero |';
  const rule = '|---|---|---|---|---|---|---|---|---|---|';
  const refs = ['input unchanged', 'ground truth through the VAE'].map((label) => rowOf(label, r.references.filter((s) => s.preset === label), null));
  const rows = r.presets.map((label) => rowOf(label, r.edits.filter((s) => s.preset === label), baseline));
  const truthTemporal = mean(r.references.filter((s) => s.preset === 'input unchanged').map((s) => s.truthTemporal ?? 0));
  return [
    `Produced by \`${r.command}\` (\`gpu-runner/bench/toy-quality/\`) on the model in \`${r.modelDir}\`; ${r.machine};`,
    `started ${r.started} UTC. Modest scale so it finishes in minutes on a shared CPU: ${clips} held-out clips (seeds from`,
    '1000000, never trained on) x 3 edits x each setting, 8 frames of 64x64, blend words = the changed word.',
    '',
    '**Model quality.**',
    '',
    `- VAE reconstruction (posterior mean, decoded) over ${r.vae.perClip.length} held-out clips x 8 frames: **${fmt(r.vae.psnr, 2)} dB** PSNR (per clip ${r.vae.perClip.map((x) => fmt(x)).join(', ')}).`,
    `- Text-to-image on ${t2i.length} held-out captions (shape/colour/pattern/background combinations never in training; DPM-Solver++ 20 steps, guidance 7.5, one seed each): object colour right **${pct(t2i.filter((s) => s.colourOk).length, t2i.length)}**, shape right **${pct(t2i.filter((s) => s.shapeOk).length, t2i.length)}**.`,
    '',
    '**Edits** (each column over the clips; bg = outside the source and target object masks dilated by 2 px; temporal = mean',
    `1 - |frame_t - frame_t-1| / 255, ground truth ${fmt(truthTemporal, 3)}; time excludes graph building):`,
    '',
    header, rule, ...refs, ...rows,
    '',
    '**Rules** (`gpu-runner/bench/toy-quality/scoring.ts`; a unit test checks each on ground truth and on noise): a colour',
    'edit succeeds when at least half of the pixels inside the ground-truth object masks (eroded 1 px) are nearest the',
    'target among the 8 named colours; a shape edit when the target shape, drawn at the clip\'s own centre and radius,',
    'overlaps the pixels closer to the object colour than to the true background best of the four shapes and with mean',
    'IoU >= 0.5; a background edit when at least half of the pixels outside the dilated masks are nearest the clip\'s',
    'pattern drawn in the target colour. Text-to-image: pixels whose nearest named colour is the prompted one (within 80',
    'RGB units) must cover >= 1.5% of the image (colour), and the prompted shape must fit them best by IoU at their',
    'centroid over a range of radii, with IoU >= 0.5 (shape).',
  ].join('\n');
}

/**
 * How many copies of a model's weights onnxruntime-node holds for two graph variants of one model (issue 12,
 * item 1), in one process per way of opening them, so each number is that way's alone:
 *
 *   tsx gpu-runner/bench/weight-copies.ts          (runs every mode in a child process and prints a table)
 *   tsx gpu-runner/bench/weight-copies.ts <mode> [noprepack] <dir>   (one mode; what the parent runs)
 *
 * Modes: 'separate' (each variant with its own side file, as the graph cache builds them), 'samefile' (both
 * graphs in one folder reading one side file), 'buffer' (one in-memory side file passed to both sessions as
 * `externalData`), 'release' (open A, run, release, then open B: the ResidentSessions policy).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// eslint-disable-next-line no-restricted-imports -- measures onnxruntime's own session options (externalData, extra), below the runtime layer
import * as ort from 'onnxruntime-node';
import { saveModel } from '../graph/index.ts';
import { TINY_UNET_CONFIG } from '../models/bundle/sd-configs.ts';
import { buildUNetGraph } from '../models/unet/unet.ts';
import { RecordingRandomWeightSource } from '../models/weights.ts';

// ~90 MB of weights at an 8x8 latent: memory growth is weight copies, not activations
const CONFIG = { ...TINY_UNET_CONFIG, block_out_channels: [128, 256, 256], cross_attention_dim: 256, attention_head_dim: 8, norm_num_groups: 32 } as typeof TINY_UNET_CONFIG;
const MODES = ['separate', 'samefile', 'buffer', 'release'] as const;
const MiB = 2 ** 20;

/** Anonymous and file-backed resident memory (MiB), from /proc. */
function resident(): { anon: number; file: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') };
}

function build(dir: string): void {
  const variant = (frames: number, folder: string) => saveModel(buildUNetGraph(CONFIG, new RecordingRandomWeightSource(1), { frames, height: 8, width: 8 }), folder, 'unet');
  variant(1, join(dir, 'a'));
  variant(2, join(dir, 'b'));
  // both graphs write identical side files (same weights, same order), so one can serve both
  mkdirSync(join(dir, 'shared'), { recursive: true });
  copyFileSync(join(dir, 'a', 'unet.onnx'), join(dir, 'shared', 'unet.onnx'));
  copyFileSync(join(dir, 'a', 'unet.onnx.data'), join(dir, 'shared', 'unet.onnx.data'));
  copyFileSync(join(dir, 'b', 'unet.onnx'), join(dir, 'shared', 'unet2.onnx'));
}

async function measure(mode: (typeof MODES)[number], prepack: boolean, dir: string): Promise<Record<string, number>> {
  const options: ort.InferenceSession.SessionOptions = prepack ? {} : { extra: { session: { disable_prepacking: '1' } } };
  const feeds = (b: number) => ({
    sample: new ort.Tensor('float32', new Float32Array(b * 4 * 64), [b, 4, 8, 8]),
    timestep: new ort.Tensor('int64', BigInt64Array.of(10n), []),
    encoder_hidden_states: new ort.Tensor('float32', new Float32Array(b * 77 * 256), [b, 77, 256]),
  });
  const base = resident();
  const grown = () => { const r = resident(); return r.anon + r.file - base.anon - base.file; };
  const paths = mode === 'separate' ? [join(dir, 'a', 'unet.onnx'), join(dir, 'b', 'unet.onnx')] : [join(dir, 'shared', 'unet.onnx'), join(dir, 'shared', 'unet2.onnx')];
  const buffer = mode === 'buffer' ? readFileSync(join(dir, 'shared', 'unet.onnx.data')) : undefined;
  const afterBuffer = grown();
  const open = (path: string) => (buffer
    ? ort.InferenceSession.create(readFileSync(path), { ...options, externalData: [{ path: 'unet.onnx.data', data: buffer }] })
    : ort.InferenceSession.create(path, options));
  const first = await open(paths[0]);
  await first.run(feeds(1));
  const one = grown();
  if (mode === 'release') await first.release();
  const second = await open(paths[1]);
  await second.run(feeds(2));
  return { buffer: afterBuffer, one, two: grown(), anonTwo: resident().anon - base.anon };
}

async function main(): Promise<void> {
  const [mode, flag, dir] = process.argv.slice(2);
  if (mode) {
    const prepack = flag !== 'noprepack';
    process.stdout.write(`RESULT ${JSON.stringify(await measure(mode as (typeof MODES)[number], prepack, dir))}\n`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'weight-copies-'));
  try {
    build(work);
    const weights = statSync(join(work, 'a', 'unet.onnx.data')).size / MiB;
    console.log(`weights (side file): ${weights.toFixed(1)} MiB; resident growth in MiB (anonymous + file-backed)\n`);
    console.log('| mode | prepacking | after the 1st session | after the 2nd session | anonymous after the 2nd |');
    console.log('|---|---|---|---|---|');
    for (const m of MODES) {
      for (const flag of ['prepack', 'noprepack']) {
        const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), m, flag, work], { encoding: 'utf8' });
        const r = JSON.parse(out.split('\n').find((l) => l.startsWith('RESULT '))!.slice(7)) as Record<string, number>;
        console.log(`| ${m} | ${flag === 'prepack' ? 'on' : 'off'} | ${r.one.toFixed(0)} | ${r.two.toFixed(0)} | ${r.anonTwo.toFixed(0)} |`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();

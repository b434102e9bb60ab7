/**
 * What the object-centric foreground crop does to the UNet's GroupNorm statistics (issue 11 item 5): one noise
 * prediction on the crop vs the same prediction on the full frame, cropped afterwards, on SD1.5's block topology in
 * miniature (random weights), for per-frame and clip-wide GroupNorm. Prints the difference overall, at the crop's
 * seam (its outer ring of latent pixels) and inside, and the per-channel offset of the predicted x0 (a colour shift).
 *
 * Usage: npx tsx gpu-runner/bench/crop-norm.ts [timestep=501] [frames=8]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIP_VOCAB_GZ, CLIPS_DIR } from '../assets.ts';
import { loadEditModel } from '../engine/load-model.ts';
import { saveModel } from '../graph/index.ts';
import { resolveCacheDir } from '../models/bundle/cache-dir.ts';
import { loadModelFolder } from '../models/bundle/model-folder.ts';
import { ensureTopologyBundle } from '../models/bundle/tiny.ts';
import { parseUNetConfig } from '../models/unet/config.ts';
import { buildUNetGraph } from '../models/unet/unet.ts';
import { createSession, runSession } from '../runtime/session.ts';
import { float32Tensor, int64Tensor, tensorToFloat32 } from '../runtime/tensors.ts';
import { DDIMScheduler } from '../schedulers/ddim.ts';
import { decodeVideo } from '../video/decode.ts';
import { framesToTensor } from '../video/frames.ts';

const t = Number(process.argv[2] ?? 501);
const F = Number(process.argv[3] ?? 8);
const C = 4, h = 64, w = 64;
const box = { top: 16, left: 20, height: 32, width: 32 };

const dir = ensureTopologyBundle({ cacheDir: resolveCacheDir(), bpeVocabGzPath: CLIP_VOCAB_GZ });
const model = await loadEditModel(dir, { provider: 'cpu', cacheDir: resolveCacheDir() });
const folder = loadModelFolder(dir);
const work = mkdtempSync(join(tmpdir(), 'crop-norm-'));
try {
  const video = await decodeVideo(join(CLIPS_DIR, 'car-turn.mp4'), { maxFrames: F, selection: 'first', size: 128, square: true });
  const mean = await model.encodeImages({ data: framesToTensor(video.frames, 128, 128), dims: [F, 3, 128, 128] });
  const z0 = mean.data.map((v) => v * model.facts.scalingFactor);
  // z_t = sqrt(a) z0 + sqrt(1 - a) n with a fixed pseudo-random n
  const alpha = DDIMScheduler.fromConfig(folder.scheduler.config).schedule.alphasCumprod[t];
  const noise = Float32Array.from({ length: z0.length }, (_, i) => Math.sin(i * 12.9898 + 78.233) * 1.7);
  const zt = z0.map((v, i) => Math.sqrt(alpha) * v + Math.sqrt(1 - alpha) * noise[i]);
  const ids = model.tokenizer.encodeForModel('a silver jeep driving down a curvy road').ids;
  const text = await model.encodeText([ids]);
  const context = new Float32Array(F * text.data.length);
  for (let f = 0; f < F; f++) context.set(text.data, f * text.data.length);

  const crop = (x: Float32Array) => {
    const out = new Float32Array(F * C * box.height * box.width);
    for (let fc = 0; fc < F * C; fc++) for (let y = 0; y < box.height; y++) for (let x2 = 0; x2 < box.width; x2++) out[(fc * box.height + y) * box.width + x2] = x[(fc * h + box.top + y) * w + box.left + x2];
    return out;
  };
  const config = parseUNetConfig(folder.unet.config);
  const eps = async (groupNorm: 'clip' | 'frame', sample: Float32Array, height: number, width: number) => {
    const graph = buildUNetGraph(config, folder.unet.weights, { frames: F, height, width, groupNorm });
    const session = await createSession(saveModel(graph, join(work, `${groupNorm}-${height}x${width}`), 'unet'));
    const out = await runSession(session, { sample: float32Tensor(sample, [F, C, height, width]), timestep: int64Tensor([t], []), encoder_hidden_states: float32Tensor(context, [F, 77, text.dims[2]]) });
    await session.dispose();
    return tensorToFloat32(out.out_sample);
  };

  for (const groupNorm of ['frame', 'clip'] as const) {
    const full = crop(await eps(groupNorm, zt, h, w));
    const cropped = await eps(groupNorm, crop(zt), box.height, box.width);
    const ring = (y: number, x: number) => Math.min(y, x, box.height - 1 - y, box.width - 1 - x);
    let seam = 0, seamN = 0, inner = 0, innerN = 0, worst = 0, rms = 0;
    const offsets = new Float64Array(C), scale = new Float64Array(C);
    const x0 = (e: number, z: number) => (z - Math.sqrt(1 - alpha) * e) / Math.sqrt(alpha);
    const ztCrop = crop(zt);
    for (let f = 0; f < F; f++) for (let c = 0; c < C; c++) for (let y = 0; y < box.height; y++) for (let x = 0; x < box.width; x++) {
      const i = ((f * C + c) * box.height + y) * box.width + x;
      const d = Math.abs(cropped[i] - full[i]);
      worst = Math.max(worst, d);
      rms += full[i] * full[i];
      if (ring(y, x) === 0) { seam += d; seamN++; } else if (ring(y, x) >= 4) { inner += d; innerN++; }
      offsets[c] += x0(cropped[i], ztCrop[i]) - x0(full[i], ztCrop[i]);
      scale[c] += x0(full[i], ztCrop[i]) ** 2;
    }
    const per = F * box.height * box.width;
    console.log(JSON.stringify({
      groupNorm, timestep: t, frames: F, box,
      epsRms: Math.sqrt(rms / (per * C)),
      epsMaxAbsDiff: worst,
      epsMeanAbsDiffSeam: seam / seamN,
      epsMeanAbsDiffInside: inner / innerN,
      x0ChannelOffset: Array.from(offsets, (o) => o / per),
      x0ChannelRms: Array.from(scale, (s) => Math.sqrt(s / per)),
    }));
  }
} finally {
  await model.dispose();
  folder.dispose();
  rmSync(work, { recursive: true, force: true });
}

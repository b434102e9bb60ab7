import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EditRequest } from '../../../../shared/edit-request.ts';
import { loadEditModel } from '../../../../gpu-runner/engine/load-model.ts';
import type { EditModel } from '../../../../gpu-runner/engine/model.ts';
import { runEdit, type RunEditResult } from '../../../../gpu-runner/engine/pipeline.ts';
import { resolveOptions } from '../../../../gpu-runner/engine/presets.ts';
import type { TomeLevelCounts } from '../../../../gpu-runner/engine/tome/hooks.ts';
import { CLIPS_DIR } from '../../../../gpu-runner/assets.ts';
import { decodeVideo } from '../../../../gpu-runner/video/decode.ts';
import { ENGINE_TEST_CACHE, tinyBundleDir } from '../support/model.ts';

// Two real frames of car-turn at 256 px (latents 32x32) through the tiny bundle: level 0 (32 channels) attends per
// frame and merges at frame scope; level 1 (the 64-channel mid block) takes keys from the middle frame, so the
// `ocd` preset merges it at clip scope.
const SIZE = 256;
let model: EditModel;
let frames: Uint8Array[];

/** A drawn object region: the jeep of car-turn's first frames (pixels x 190..250, y 110..165 at 256 px). */
function jeepMask(count: number): Float32Array {
  const m = new Float32Array(count * SIZE * SIZE);
  for (let f = 0; f < count; f++) for (let y = 110; y < 165; y++) for (let x = 190; x < 250; x++) m[(f * SIZE + y) * SIZE + x] = 1;
  return m;
}

const request: EditRequest = {
  preset: 'ocd',
  sourcePrompt: 'a silver jeep driving down a curvy road in the countryside',
  targetPrompt: 'a Porsche car driving down a curvy road in the countryside',
  frames: { count: 2 },
  sampler: { steps: 2 },
};

function run(tome: EditRequest['tome'], extra: { mask?: Float32Array; ocd?: EditRequest['ocd']; fusion?: EditRequest['fusion']; steps?: number } = {}): Promise<RunEditResult> {
  const mask = 'mask' in extra ? extra.mask : jeepMask(frames.length);
  const options = resolveOptions({ ...request, tome, ocd: extra.ocd, fusion: extra.fusion, sampler: { steps: extra.steps ?? 2 } }, { hasMaskVideo: !!mask });
  return runEdit({ input: { frames, width: SIZE, height: SIZE }, mask, options, model });
}

const levels = (r: RunEditResult): TomeLevelCounts[] => r.report.tome?.levels ?? [];

beforeAll(async () => {
  model = await loadEditModel(tinyBundleDir(), { provider: 'cpu', cacheDir: ENGINE_TEST_CACHE });
  const video = await decodeVideo(join(CLIPS_DIR, 'car-turn.mp4'), { maxFrames: 2, selection: 'first', size: SIZE, square: true });
  frames = video.frames.map((f) => Uint8Array.from(f));
}, 120_000);
afterAll(async () => {
  await model?.dispose();
});

describe('object-centric token merging at the ocd preset ratios', () => {
  it('leaves sources unmerged at every level, so the penalty chooses: beta 0 merges foreground, a large beta none', async () => {
    const plain = await run({ beta: 0 });
    const strict = await run({ beta: 100 });
    const byDefault = await run({});
    const preset = resolveOptions(request).tome;
    expect(preset.scope).toBe('clip');
    expect(levels(plain).map((l) => `${l.level}:${l.scope}`)).toEqual(['0:frame', '1:clip']);
    for (const [i, l] of levels(plain).entries()) {
      // every source merged would leave tokens / cell size: the preset's ratio stays below that
      const cell = l.scope === 'clip' ? preset.st * preset.sy * preset.sx : preset.sy * preset.sx;
      expect(l.merged).toBe(Math.floor(l.tokens * preset.ratio[l.level]));
      expect(l.merged).toBeLessThan(l.tokens - l.tokens / cell);
      expect(l.foregroundSources).toBeGreaterThan(0);
      expect(l.foregroundMerged).toBeGreaterThan(0); // without the penalty the object merges like the background
      expect(levels(strict)[i].foregroundMerged).toBe(0);
      expect(levels(strict)[i].foregroundSpared).toBe(levels(strict)[i].foregroundSources);
      expect(levels(byDefault)[i].foregroundSpared).toBeGreaterThan(0); // the report's spared count at the defaults
    }
    expect(levels(plain)[1].acrossFrames).toBeGreaterThan(0); // clip scope merges across the two frames
    expect(levels(plain)[0].acrossFrames).toBe(0);
    console.log('foreground merged per call, beta 0 -> 100:', levels(plain).map((l, i) => `l${l.level} ${l.foregroundMerged} -> ${levels(strict)[i].foregroundMerged} (of ${l.foregroundSources})`).join(', '));
  }, 300_000);

  it('at the ratios the preset used before (frame scope, 0.75 at level 0) every source merges: no foreground is spared there', async () => {
    const before = await run({ scope: 'frame', ratio: [0.75, 0.5], beta: 100 });
    expect(levels(before)[0].foregroundSources).toBeGreaterThan(0);
    expect(levels(before)[0].foregroundSpared).toBe(0);
  }, 300_000);

  it('keys/values-only clip merging runs through the foreground crop and reports its merges', async () => {
    const kv = await run({ target: 'kv' });
    expect(kv.report.ranAs).toBe('ocd');
    expect(kv.report.mask?.box).not.toBeNull();
    expect(levels(kv).map((l) => `${l.scope}:${l.target}`)).toEqual(['frame:kv', 'clip:kv']);
    expect(kv.frames).toHaveLength(2);
  }, 300_000);

  it("with the 'auto' mask the first inversion plan (paired with the last editing step) is already object-centric", async () => {
    // one step: the only plan is the first inversion step's; its saliency comes from a probe call before it
    const auto = await run({}, { mask: undefined, ocd: { mask: 'auto' }, fusion: { blendWords: { source: ['silver', 'jeep'], target: ['Porsche', 'car'] } }, steps: 1 });
    expect(auto.report.unetCalls).toBe(3); // probe + 1 inversion + 1 edit
    for (const l of levels(auto)) expect(l.foregroundSources).toBeGreaterThan(0);
  }, 300_000);
});

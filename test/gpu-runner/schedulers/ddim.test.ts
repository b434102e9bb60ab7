import { describe, expect, it } from 'vitest';
import { DDIMScheduler } from '../../../gpu-runner/schedulers/ddim.ts';
import { schedulerReference } from './reference-loops.ts';

const sd15 = schedulerReference.sd15_scheduler_config;
const sample = Float32Array.from([0.5, -1.25, 2, 0]);
const eps = Float32Array.from([0.1, 0.3, -0.7, 1.5]);

describe('DDIMScheduler config', () => {
  it('accepts SD 1.5\'s PNDMScheduler file and applies DDIM defaults for the missing keys', () => {
    const ddim = DDIMScheduler.fromConfig(sd15);
    expect(ddim.config).toMatchObject({ timestep_spacing: 'leading', prediction_type: 'epsilon', clip_sample: false, set_alpha_to_one: false, steps_offset: 1 });
    expect(ddim.finalAlphaCumprod).toBe(ddim.schedule.alphasCumprod[0]);
    expect(ddim.config).not.toHaveProperty('_class_name');
  });

  it('uses the class defaults for an empty config (linear betas, ᾱ_final = 1, clipping on)', () => {
    const ddim = DDIMScheduler.fromConfig({});
    expect(ddim.config).toMatchObject({ beta_schedule: 'linear', set_alpha_to_one: true, clip_sample: true, steps_offset: 0 });
    expect(ddim.finalAlphaCumprod).toBe(1);
  });

  it.each([
    [{ prediction_type: 'v_prediction' }, /prediction_type = "v_prediction" is not supported; allowed: "epsilon"/],
    [{ thresholding: true }, /thresholding = true is not supported/],
    [{ rescale_betas_zero_snr: true }, /rescale_betas_zero_snr = true is not supported/],
  ])('fails on an unimplemented option %o, naming the key', (override, message) => {
    expect(() => DDIMScheduler.fromConfig({ ...sd15, ...override })).toThrow(message);
  });

  it('fails on an unknown timestep_spacing, naming the allowed values', () => {
    expect(() => DDIMScheduler.fromConfig({ ...sd15, timestep_spacing: 'sideways' })).toThrow(/leading.*trailing.*linspace/s);
  });
});

describe('DDIMScheduler.step', () => {
  it('throws a message naming setTimesteps when called first', () => {
    expect(() => DDIMScheduler.fromConfig(sd15).step(eps, 981, sample)).toThrow(/setTimesteps/);
  });

  it('fails on too many steps, quoting the number and the limit', () => {
    expect(() => DDIMScheduler.fromConfig(sd15).setTimesteps(1001)).toThrow(/1001.*1000/);
  });

  it('fails on mismatched lengths', () => {
    const ddim = DDIMScheduler.fromConfig(sd15);
    ddim.setTimesteps(10);
    expect(() => ddim.step(eps.subarray(0, 3), 901, sample)).toThrow(/modelOutput has 3 values but sample has 4/);
  });

  it('fails on a timestep outside the training range', () => {
    const ddim = DDIMScheduler.fromConfig(sd15);
    ddim.setTimesteps(4);
    expect(() => ddim.step(eps, 1000, sample)).toThrow(/timestep 1000; use a timestep of the run \(751, 501, 251, 1\)/);
  });

  it('follows DDIM eq. 12 with eta 0 (checked in float64)', () => {
    const ddim = DDIMScheduler.fromConfig(sd15);
    ddim.setTimesteps(10);
    const a = ddim.schedule.alphasCumprod;
    const { prevSample, predOriginalSample } = ddim.step(eps, 901, sample);
    sample.forEach((x, i) => {
      const x0 = (x - Math.sqrt(1 - a[901]) * eps[i]) / Math.sqrt(a[901]);
      expect(predOriginalSample[i]).toBeCloseTo(x0, 5);
      expect(prevSample[i]).toBeCloseTo(Math.sqrt(a[801]) * x0 + Math.sqrt(1 - a[801]) * eps[i], 5);
    });
  });

  it('targets ᾱ_0 on the last step when set_alpha_to_one is false', () => {
    const ddim = DDIMScheduler.fromConfig(sd15);
    ddim.setTimesteps(10);
    const a = ddim.schedule.alphasCumprod;
    const { prevSample, predOriginalSample } = ddim.step(eps, 1, sample);
    predOriginalSample.forEach((x0, i) => expect(prevSample[i]).toBeCloseTo(Math.sqrt(a[0]) * x0 + Math.sqrt(1 - a[0]) * eps[i], 6));
  });

  it('adds σ_t·noise with eta > 0 (DDIM eq. 16) and needs the noise', () => {
    const ddim = DDIMScheduler.fromConfig(sd15);
    ddim.setTimesteps(10);
    expect(() => ddim.step(eps, 901, sample, { eta: 1 })).toThrow(/eta = 1 without noise/);
    const noise = Float32Array.from([1, -1, 0.5, 2]);
    const a = ddim.schedule.alphasCumprod;
    const sigma = Math.sqrt((1 - a[801]) / (1 - a[901])) * Math.sqrt(1 - a[901] / a[801]);
    const { prevSample, predOriginalSample } = ddim.step(eps, 901, sample, { eta: 1, noise });
    predOriginalSample.forEach((x0, i) => {
      const expected = Math.sqrt(a[801]) * x0 + Math.sqrt(1 - a[801] - sigma * sigma) * eps[i] + sigma * noise[i];
      expect(prevSample[i]).toBeCloseTo(expected, 5);
    });
    // eta 0 ignores the noise.
    expect(ddim.step(eps, 901, sample, { eta: 0, noise }).prevSample).toEqual(ddim.step(eps, 901, sample).prevSample);
  });

  it('clamps x0 to ±clip_sample_range when clip_sample is on', () => {
    const ddim = DDIMScheduler.fromConfig({ ...sd15, clip_sample: true, clip_sample_range: 0.5 });
    ddim.setTimesteps(10);
    const { predOriginalSample } = ddim.step(Float32Array.from([-5, 5, 0, 0]), 901, Float32Array.from([0, 0, 0.01, 100]));
    expect(Array.from(predOriginalSample)).toEqual([0.5, -0.5, expect.closeTo(0.01 / Math.sqrt(ddim.schedule.alphasCumprod[901]), 6), 0.5]);
  });
});

describe('DDIMScheduler.addNoise', () => {
  it('computes sqrt(ᾱ_t)·x0 + sqrt(1−ᾱ_t)·noise', () => {
    const ddim = DDIMScheduler.fromConfig(sd15);
    const a = ddim.schedule.alphasCumprod[500];
    const noisy = ddim.addNoise(sample, eps, 500);
    sample.forEach((x, i) => expect(noisy[i]).toBeCloseTo(Math.sqrt(a) * x + Math.sqrt(1 - a) * eps[i], 6));
  });

  it('fails on a timestep outside the training range', () => {
    expect(() => DDIMScheduler.fromConfig(sd15).addNoise(sample, eps, 1000)).toThrow(/1000 is outside 0..999/);
  });
});

import { describe, expect, it } from 'vitest';
import { chooseProvider, describeChoice, probeDevice } from '../../../gpu-runner/runtime/provider-choice.ts';
import { parseProviderSetting, type Device } from '../../../gpu-runner/runtime/providers.ts';

/** A probe where only the listed devices work. */
const only = (...working: Device[]) => async (device: Device) => {
  if (!working.includes(device)) throw new Error(`no ${device} here`);
};

describe('provider choice from configuration', () => {
  it("'auto' takes the first of cuda, webgpu, cpu that works and says what it skipped", async () => {
    const gpuImage = await chooseProvider('auto', only('cuda', 'webgpu', 'cpu'));
    expect(gpuImage).toEqual({ device: 'cuda', requested: 'auto', skipped: [] });
    const vulkanOnly = await chooseProvider('auto', only('webgpu', 'cpu'));
    expect(vulkanOnly.device).toBe('webgpu');
    expect(describeChoice(vulkanOnly)).toBe('webgpu (asked auto; cuda skipped: no cuda here)');
    expect((await chooseProvider('auto', only('cpu'))).skipped.map((s) => s.device)).toEqual(['cuda', 'webgpu']);
  });

  it('an explicit device that does not work fails with the reason, never falls back', async () => {
    await expect(chooseProvider('cuda', only('cpu'))).rejects.toThrow("provider 'cuda' does not work on this machine (cuda: no cuda here)");
  });

  it('the real probe: the CPU provider works everywhere, the CUDA library is not in this checkout', async () => {
    await expect(probeDevice('cpu')).resolves.toBeUndefined();
    await expect(probeDevice('cuda')).rejects.toThrow();
  });

  it('validates the setting', () => {
    expect(parseProviderSetting('auto')).toBe('auto');
    expect(() => parseProviderSetting('tpu')).toThrow("unknown provider 'tpu'; allowed: cpu, cuda, webgpu, auto");
  });
});

/** The worker's start-up load: the ControlNet is loaded when it can be, and its absence or failure is recorded, not fatal. */
import { describe, expect, it } from 'vitest';
import type { EditEngine } from '../../../gpu-runner/worker/engine-port.ts';
import { silentLogger } from '../../../gpu-runner/worker/logger.ts';
import { loadWorkerModel } from '../../../gpu-runner/worker/model-load.ts';

/** An engine that records each load's ControlNet folder and fails as told. */
function engineThat(fail: (controlnetDir: string | undefined) => Error | undefined) {
  const loads: (string | undefined)[] = [];
  const engine: EditEngine = {
    async loadEditModel(_modelDir, options) {
      loads.push(options.controlnetDir);
      const error = fail(options.controlnetDir);
      if (error) throw error;
      return { dispose: () => {} };
    },
    editVideoFile: () => Promise.reject(new Error('not used')),
  };
  return { engine, loads };
}

const coded = (code: string, message: string) => Object.assign(new Error(message), { code });
const options = (controlnetDir: () => Promise<string | undefined>) => ({ provider: 'cpu' as const, cacheDir: 'graphs', controlnetDir, logger: silentLogger });

describe('loadWorkerModel', () => {
  it('loads the ControlNet beside the model when one is configured', async () => {
    const { engine, loads } = engineThat(() => undefined);
    const loaded = await loadWorkerModel(engine, 'model', options(async () => 'controlnet'));
    expect(loads).toEqual(['controlnet']);
    expect(loaded.controlnetProblem).toBeUndefined();
  });

  it('records controlnet_missing when none is configured', async () => {
    const { engine, loads } = engineThat(() => undefined);
    const loaded = await loadWorkerModel(engine, 'model', options(async () => undefined));
    expect(loads).toEqual([undefined]);
    expect(loaded.controlnetProblem).toMatchObject({ code: 'controlnet_missing', message: expect.stringMatching(/OCD_CONTROLNET_DIR/) });
  });

  it('records controlnet_invalid with the reason when the folder cannot be had, and loads the model alone', async () => {
    const { engine, loads } = engineThat(() => undefined);
    const loaded = await loadWorkerModel(engine, 'model', options(() => Promise.reject(new Error('config.json describes a UNet2DConditionModel'))));
    expect(loads).toEqual([undefined]);
    expect(loaded.controlnetProblem).toMatchObject({ code: 'controlnet_invalid', message: expect.stringMatching(/UNet2DConditionModel/) });
  });

  it('records controlnet_invalid when the engine cannot load the ControlNet, and loads the model alone', async () => {
    const { engine, loads } = engineThat((dir) => (dir ? coded('controlnet_invalid', 'down block 2 has no weights') : undefined));
    const loaded = await loadWorkerModel(engine, 'model', options(async () => 'controlnet'));
    expect(loads).toEqual(['controlnet', undefined]);
    expect(loaded.controlnetProblem).toMatchObject({ code: 'controlnet_invalid', message: expect.stringMatching(/down block 2 has no weights/) });
  });

  it('fails as before when the base model does not load', async () => {
    const { engine } = engineThat(() => coded('model_unavailable', 'no model_index.json'));
    await expect(loadWorkerModel(engine, 'model', options(async () => 'controlnet'))).rejects.toThrow(/no model_index.json/);
  });
});

/**
 * `ocd submit <video> --source "…" --target "…" [--api URL] [--key KEY] [--wait]`: the API client.
 * Uploads through the presigned POST (the video, and the mask and control video when given), creates the edit,
 * optionally follows it with a progress bar and downloads the outputs. Works the same against the local stack and a deployed stack.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EditJobSchema } from '../../shared/api.ts';
import { describeJobRun } from '../../shared/job-run.ts';
import { ApiClient, ApiError, type JobView } from '../api-client.ts';
import { CONTROL_FLAG_OPTIONS, CONTROL_FLAGS_HELP, controlFromFlags, type ControlChoice } from '../control-flags.ts';
import { EDIT_FLAG_OPTIONS, EDIT_FLAGS_HELP, knobsFromFlags } from '../edit-flags.ts';
import { ProgressBar } from '../progress.ts';

export const summary = 'send a video to the edit API (upload, create, follow, download)';

export const usage = `usage: ocd submit <video> --source "<text>" --target "<text>" [options]

${EDIT_FLAGS_HELP}
  --mask <video>           mask video (white = edit)
${CONTROL_FLAGS_HELP}
                           (the ControlNet is the service's: its operator configures it)
  --api URL                API base URL (env OCD_API_URL, default http://127.0.0.1:8787)
  --key KEY                API key (env OCD_API_KEY)
  --webhook URL            https URL to call when the edit finishes
  --idempotency-key K      retrying with the same key returns the same job
  --wait                   follow the job with a progress bar and download the outputs
  --out-dir DIR            where --wait puts output.mp4, preview.mp4, report.json (default .)
  --json                   print the job as JSON instead of a summary`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...EDIT_FLAG_OPTIONS,
      ...CONTROL_FLAG_OPTIONS,
      mask: { type: 'string' },
      api: { type: 'string' },
      key: { type: 'string' },
      webhook: { type: 'string' },
      'idempotency-key': { type: 'string' },
      wait: { type: 'boolean' },
      'out-dir': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [video] = positionals;
  const apiKey = values.key ?? process.env.OCD_API_KEY;
  if (!video || positionals.length > 1) {
    console.error(`ocd submit: give exactly one video file.\n\n${usage}`);
    return 2;
  }
  if (!apiKey) {
    console.error('ocd submit: no API key: pass --key or set OCD_API_KEY (`npm start` prints a local one).');
    return 2;
  }
  for (const file of [video, values.mask, values['control-video']].filter((f): f is string => !!f)) {
    if (!existsSync(file)) {
      console.error(`ocd submit: ${file} does not exist.`);
      return 2;
    }
  }
  let knobs: Record<string, unknown>;
  let control: ControlChoice;
  try {
    knobs = knobsFromFlags(values);
    control = controlFromFlags(values);
  } catch (e) {
    console.error(`ocd submit: ${(e as Error).message}`);
    return 2;
  }

  const client = new ApiClient({ baseUrl: values.api ?? process.env.OCD_API_URL ?? 'http://127.0.0.1:8787', apiKey });
  try {
    const input = { uploadId: await client.upload(video) };
    const mask = values.mask ? { uploadId: await client.upload(values.mask) } : undefined;
    // The JSON body names the control video's upload inside `control`.
    const controlKnobs = control.controlVideo ? { ...control.knobs, control: { type: 'video', uploadId: await client.upload(control.controlVideo) } } : control.knobs;
    const body = { ...knobs, ...controlKnobs, input, ...(mask ? { mask } : {}), ...(values.webhook ? { webhookUrl: values.webhook } : {}) };
    const job = await client.createEdit(body, values['idempotency-key']);
    console.error(`created edit ${job.id} (${job.state})`);
    if (!values.wait) {
      console.log(values.json ? JSON.stringify(job, null, 2) : job.id);
      return 0;
    }
    const finished = await follow(client, job.id);
    if (values.json) console.log(JSON.stringify(finished, null, 2));
    if (finished.state !== 'succeeded') {
      console.error(`edit ${finished.id} ${finished.state}${finished.error ? `: ${finished.error.code}: ${finished.error.message}` : ''}`);
      return 1;
    }
    const outDir = values['out-dir'] ?? '.';
    await mkdir(outDir, { recursive: true });
    const names: Record<string, string> = { video: 'output.mp4', preview: 'preview.mp4', report: 'report.json' };
    for (const [kind, link] of Object.entries(finished.outputs ?? {})) {
      const path = join(outDir, names[kind] ?? kind);
      await client.download(link.url, path);
      console.error(`wrote ${path}`);
    }
    // What ran (and why, when an ocd edit fell back to optimized), as the job record says.
    const ran = whatRan(finished);
    if (ran) console.error(ran);
    return 0;
  } catch (e) {
    console.error(`ocd submit: ${e instanceof ApiError ? e.message : (e as Error).message}`);
    return 1;
  }
}

/** The job's "ran as …" line, when the job states what ran. */
function whatRan(job: JobView): string | undefined {
  const view = EditJobSchema.pick({ run: true, options: true }).safeParse(job);
  if (!view.success || !view.data.run) return undefined;
  return describeJobRun(String(view.data.options.preset), view.data.run);
}

async function follow(client: ApiClient, id: string): Promise<JobView> {
  const bar = new ProgressBar();
  const job = await client.waitFor(id, (j) => {
    const p = j.progress ?? {};
    const stage = j.state === 'queued' ? `queued${j.queuePosition != null ? ` (#${j.queuePosition})` : ''}` : (p.stage ?? j.state);
    bar.update({ stage, fraction: p.fraction ?? 0, step: p.step, steps: p.steps });
  });
  bar.done(`edit ${job.id} ${job.state}`);
  return job;
}

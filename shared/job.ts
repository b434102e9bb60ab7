/**
 * The job record kept in the jobs table: one item per edit job, written by the API (create, cancel) and the
 * runner (claim, progress, finish). Every state change is a conditional write (see `job-store.ts`).
 *
 * States: queued -> running -> succeeded | failed | canceled, and queued -> canceled. A runner that gives a
 * job back (shutdown) moves it running -> queued with the progress reset.
 */
import { z } from 'zod';
import { PRESETS, type EditOptions, type EditRequest } from './edit-request.ts';
import { JobErrorSchema } from './errors.ts';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** States after which nothing changes any more. */
export const FINISHED_STATES: readonly JobState[] = ['succeeded', 'failed', 'canceled'];
/** States that count against a tenant's active-job cap. */
export const ACTIVE_STATES: readonly JobState[] = ['queued', 'running'];

export function isFinished(state: JobState): boolean {
  return FINISHED_STATES.includes(state);
}

/**
 * Stage names a runner reports, in pipeline order (method.md §7). Progress and timings use these keys;
 * a runner may add others, so the schema accepts any short name.
 */
export const JOB_STAGES = ['download', 'decode', 'vae_encode', 'text', 'inversion', 'edit', 'vae_decode', 'encode', 'upload'] as const;
export type KnownJobStage = (typeof JOB_STAGES)[number];

const stageName = z.string().min(1).max(64);

export const JobProgressSchema = z
  .object({
    stage: stageName.describe(`Current stage, one of ${JOB_STAGES.join(', ')} (a runner may add others).`),
    step: z.int().min(0).describe('Steps done in this stage.'),
    steps: z.int().min(0).describe('Steps in this stage (0 when unknown).'),
    fraction: z.number().min(0).max(1).describe('Overall completion of the job, 0..1.'),
  })
  .meta({ id: 'JobProgress' });
export type JobProgress = z.infer<typeof JobProgressSchema>;

/** Seconds spent per stage. */
export const JobTimingsSchema = z.record(stageName, z.number().min(0)).meta({ id: 'JobTimings' });
export type JobTimings = z.infer<typeof JobTimingsSchema>;

/** S3 keys of what a finished job wrote. */
export const JobOutputKeysSchema = z.object({
  video: z.string().optional(),
  preview: z.string().optional(),
  report: z.string().optional(),
});
export type JobOutputKeys = z.infer<typeof JobOutputKeysSchema>;

/** An input object as checked by the API when the job was created. */
export const JobInputSchema = z.object({
  uploadId: z.string(),
  key: z.string(),
  bytes: z.int().min(0),
  contentType: z.string(),
});
export type JobInput = z.infer<typeof JobInputSchema>;

/** Where an object-centric mask came from: the uploaded mask video, or which words' cross-attention. */
export const MASK_SOURCES = ['video', 'blend-words', 'prompt-difference', 'target-content-words'] as const;

/**
 * What actually ran, from the engine's run report (method.md §7): an `ocd` edit without a usable mask runs as
 * `optimized`, and the caller must be able to see that without opening `report.json`.
 */
export const JobRunSchema = z
  .object({
    ranAs: z.enum(PRESETS).describe('The preset that actually ran; differs from options.preset when an object-centric edit fell back.'),
    note: z.string().nullable().describe('Why the edit ran as something other than asked (e.g. the mask selected nothing), or null.'),
    mask: z
      .object({
        areaFraction: z.number().min(0).max(1).describe('Share of the frame the mask covers, 0..1.'),
        source: z.enum(MASK_SOURCES).describe('The mask video, or the words whose cross-attention drew the mask (auto).'),
        words: z.array(z.string()).describe('The words the auto mask follows (empty for a mask video).'),
      })
      .nullable()
      .describe('The object-centric mask the edit used, or null when none was.'),
  })
  .meta({ id: 'JobRun' });
export type JobRun = z.infer<typeof JobRunSchema>;

const isoTime = z.string().describe('ISO 8601 UTC time.');

export const JobRecordSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  state: z.enum(JOB_STATES),
  /** The request as the caller sent it (knobs only). */
  request: z.custom<EditRequest>((value) => typeof value === 'object' && value !== null),
  /** Every knob resolved: what the runner runs with. */
  options: z.custom<EditOptions>((value) => typeof value === 'object' && value !== null),
  input: JobInputSchema,
  mask: JobInputSchema.nullable(),
  /** The ControlVideo editor's control video (`control: {type: 'video'}`); absent on records written before it existed. */
  control: JobInputSchema.nullable().optional(),
  webhookUrl: z.string().nullable(),
  progress: JobProgressSchema.nullable(),
  timings: JobTimingsSchema,
  outputs: JobOutputKeysSchema.nullable(),
  error: JobErrorSchema.nullable(),
  /** What ran, from the run report; set when the job succeeds (absent on records written before it existed). */
  run: JobRunSchema.nullable().optional(),
  /** How many times a runner has claimed the job; each claim increments it. */
  attempt: z.int().min(0),
  cancelRequested: z.boolean(),
  idempotencyKey: z.string().nullable(),
  workerId: z.string().nullable(),
  createdAt: isoTime,
  updatedAt: isoTime,
  startedAt: isoTime.nullable(),
  finishedAt: isoTime.nullable(),
  /** TTL: epoch seconds after which DynamoDB may delete the record. */
  expiresAt: z.int(),
  /** Present (= 'queued') only while queued: the key of the sparse queue-position index. */
  queueLane: z.literal('queued').optional(),
});
export type JobRecord = z.infer<typeof JobRecordSchema>;

/**
 * The S3 key layout shared by the API and the runner:
 * `uploads/{tenant}/{uploadId}` for inputs and masks, `jobs/{jobId}/{output.mp4|preview.mp4|report.json}` for outputs.
 */

/** Tenant ids and upload/job ids are restricted to these characters so a key can never escape its prefix. */
const SAFE_SEGMENT = /^[A-Za-z0-9_-]{1,128}$/;

function segment(what: string, value: string): string {
  if (!SAFE_SEGMENT.test(value)) {
    throw new Error(`${what} ${JSON.stringify(value)} cannot be part of an S3 key: use 1-128 characters from A-Z, a-z, 0-9, '_' and '-'.`);
  }
  return value;
}

/** Key of an uploaded input or mask video. */
export function uploadKey(tenant: string, uploadId: string): string {
  return `uploads/${segment('tenant', tenant)}/${segment('uploadId', uploadId)}`;
}

/** The outputs a job writes, by name. */
export const JOB_OUTPUT_FILES = {
  video: 'output.mp4',
  preview: 'preview.mp4',
  report: 'report.json',
} as const;
export type JobOutputName = keyof typeof JOB_OUTPUT_FILES;

/** Key of one job output. */
export function jobOutputKey(jobId: string, output: JobOutputName): string {
  return `jobs/${segment('jobId', jobId)}/${JOB_OUTPUT_FILES[output]}`;
}

/** Prefix under which all of a job's outputs live. */
export function jobPrefix(jobId: string): string {
  return `jobs/${segment('jobId', jobId)}/`;
}

/**
 * Error messages meant for callers, cleared of what only the server should know: file-system paths (a temp folder,
 * the model folder), stack frames and storage keys. The runner records job errors through it and the API shows
 * them through it again, so a message written anywhere in the engine never reaches a caller with those inside.
 */

// A stack frame line, as Node prints them under an error's message.
const STACK_FRAME = /\n?^[ \t]*at [^\n]*$/gm;
const FILE_URL = /file:\/\/[^\s'")]+/g;
// An absolute path of two or more segments that is not part of a URL or a word, and not one of our API routes.
const ABSOLUTE_PATH = /(?<![\w.:/~-])(?!\/v\d+\/)(?:\/[\w.@+~-]+){2,}\/?/g;
// Keys of the bucket layout (shared/s3-keys.ts): uploads/{tenant}/{uploadId}, jobs/{jobId}/{file}.
const STORAGE_KEY = /\b(?:uploads\/[\w-]+\/[\w-]+|jobs\/[\w-]+\/[\w.-]+)/g;

/**
 * The message with paths reduced to their last segment, storage keys named generically and stack frames dropped.
 * @example publicMessage('The input file is not a readable video (/tmp/work/job-1/input: Invalid data).') // '... (input: Invalid data).'
 */
export function publicMessage(text: string): string {
  return text
    .replace(STACK_FRAME, '')
    .replace(FILE_URL, (url) => lastSegment(url))
    .replace(STORAGE_KEY, 'the stored file')
    .replace(ABSOLUTE_PATH, (path) => lastSegment(path));
}

function lastSegment(path: string): string {
  return path.split('/').filter(Boolean).at(-1) ?? '';
}

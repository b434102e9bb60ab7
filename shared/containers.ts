/**
 * The video containers the service accepts, as inputs and masks: the one list behind the upload content types,
 * the CLI's file types, the runner's "not a readable video" error, the playground and the README.
 */
export const VIDEO_CONTAINERS = [
  { name: 'MP4', extensions: ['.mp4', '.m4v'], contentType: 'video/mp4' },
  { name: 'MOV', extensions: ['.mov'], contentType: 'video/quicktime' },
  { name: 'WebM', extensions: ['.webm'], contentType: 'video/webm' },
  { name: 'MKV', extensions: ['.mkv'], contentType: 'video/x-matroska' },
] as const;

/** "MP4, MOV, WebM or MKV". */
export function containerNames(): string {
  const names = VIDEO_CONTAINERS.map((c) => c.name);
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/** The content type of a file name's extension, or undefined for other files. */
export function containerContentType(fileName: string): string | undefined {
  const lower = fileName.toLowerCase();
  return VIDEO_CONTAINERS.find((c) => c.extensions.some((e) => lower.endsWith(e)))?.contentType;
}

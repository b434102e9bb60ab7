/**
 * The download step's check that what arrived is a video: ffprobe reads its container and first video stream, so
 * a file that is not one fails the job at once with a stable input code (`input_empty`, `input_unreadable`,
 * `mask_unreadable`, `control_unreadable`) before the engine starts.
 */
import { probeVideo } from '../video/probe.ts';

/**
 * @throws VideoInputError with the input code when `path` is not a readable video.
 * @throws VideoToolError when ffprobe itself is missing or times out (the job is then retried, not failed).
 */
export async function checkInputVideo(path: string, role: 'input' | 'mask' | 'control'): Promise<void> {
  await probeVideo(path, { role });
}

/**
 * Encodes RGB24 frames to a web-playable MP4: H.264, yuv420p, moov atom up front (+faststart), with the source's
 * audio (AAC) cut to the part the frames cover.
 */
import { checkFrameLength } from './frames.ts';
import type { Rational } from './probe.ts';
import { VideoToolError } from './errors.ts';
import { lastLine, processLimits, runTool, type VideoToolOptions } from './tools.ts';

/** Where the output's audio comes from: a span of another file (normally the input clip). */
export interface AudioSource {
  readonly path: string;
  /** Start of the span in that file, seconds. */
  readonly startSeconds: number;
  /** Length of the span, seconds; normally the output's duration. */
  readonly durationSeconds: number;
}

export interface EncodeVideoOptions extends VideoToolOptions {
  readonly width: number;
  readonly height: number;
  /** Frame rate of the output, as a number or an exact rational (e.g. 30000/1001). */
  readonly fps: number | Rational;
  readonly outPath: string;
  /** Copy this span's first audio track (if it has one) as AAC. @default - no audio */
  readonly audioFrom?: AudioSource;
  /** x264 constant rate factor, 0-51, lower is better. @default 18 */
  readonly crf?: number;
  /** x264 preset. @default 'medium' */
  readonly preset?: string;
}

export interface EncodedVideo {
  readonly outPath: string;
  readonly frameCount: number;
  /** frameCount / fps. */
  readonly durationSeconds: number;
}

const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow', 'placebo'];

/**
 * Writes `frames` (RGB24, `height * width * 3` bytes each) to `outPath` as H.264 MP4. Odd sizes are padded by one
 * pixel (yuv420p needs even sides).
 * @throws RangeError for bad options or frame sizes.
 * @throws VideoToolError `tool_failed` when ffmpeg exits with an error, `tool_missing`/`tool_timeout` as usual.
 * @example await encodeVideo(frames, { width: 512, height: 512, fps: 8, outPath: 'out.mp4' });
 */
export async function encodeVideo(frames: readonly Uint8Array[], options: EncodeVideoOptions): Promise<EncodedVideo> {
  const { width, height, outPath, audioFrom, crf = 18, preset = 'medium' } = options;
  if (frames.length === 0) throw new RangeError('encodeVideo needs at least one frame, got 0.');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`width and height must be positive whole numbers, got ${width}x${height}.`);
  }
  frames.forEach((frame, i) => checkFrameLength(frame, width, height, i));
  if (!Number.isInteger(crf) || crf < 0 || crf > 51) throw new RangeError(`crf must be a whole number in 0..51, got ${crf}.`);
  if (!X264_PRESETS.includes(preset)) throw new RangeError(`preset must be one of ${X264_PRESETS.join(', ')}, got '${preset}'.`);
  const fps = typeof options.fps === 'number' ? options.fps : options.fps.num / options.fps.den;
  if (!(fps > 0) || !Number.isFinite(fps)) throw new RangeError(`fps must be positive, got ${JSON.stringify(options.fps)}.`);
  const fpsArg = typeof options.fps === 'number' ? String(options.fps) : `${options.fps.num}/${options.fps.den}`;
  const durationSeconds = frames.length / fps;

  const args = ['-nostdin', '-hide_banner', '-v', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', fpsArg, '-i', 'pipe:0'];
  if (audioFrom) {
    args.push('-ss', seconds(audioFrom.startSeconds), '-t', seconds(audioFrom.durationSeconds), '-i', audioFrom.path);
  }
  args.push('-map', '0:v:0');
  // The trailing '?' keeps going when the audio source has no audio track.
  if (audioFrom) args.push('-map', '1:a:0?', '-c:a', 'aac', '-b:a', '128k');
  if (width % 2 !== 0 || height % 2 !== 0) args.push('-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2');
  args.push('-c:v', 'libx264', '-preset', preset, '-crf', String(crf), '-pix_fmt', 'yuv420p',
    // Tag what swscale's RGB -> YUV conversion does (BT.601 matrix, limited range, sRGB/BT.709 primaries) so
    // players do not guess a different matrix; the shared clips carry the same tags.
    '-colorspace', 'smpte170m', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-color_range', 'tv',
    '-movflags', '+faststart', '-t', seconds(durationSeconds), '-f', 'mp4', outPath);

  const run = await runTool(options.ffmpegPath ?? 'ffmpeg', args, {
    ...processLimits(options),
    stdin: frames,
  });
  if (run.exitCode !== 0) {
    throw new VideoToolError('tool_failed', `ffmpeg could not encode ${outPath} (exit ${run.exitCode ?? run.signal}): ${lastLine(run.stderrTail)}`);
  }
  return { outPath, frameCount: frames.length, durationSeconds };
}

function seconds(value: number): string {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`A time in seconds must be >= 0, got ${value}.`);
  return value.toFixed(6);
}

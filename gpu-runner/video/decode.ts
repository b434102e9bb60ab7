/**
 * Decodes the frames an edit works on: probe, check limits, choose frames by time, then let ffmpeg select, rotate,
 * resize and crop so only working-size RGB24 frames ever cross the pipe (a 4K clip is never held raw in memory).
 * Finally checks that every frame the container promised actually decoded.
 */
import { VideoInputError } from './errors.ts';
import { WORKING_SIZE_MULTIPLE, geometryFilter, workingGeometry, type WorkingGeometry } from './geometry.ts';
import { probeFrameTimes, probeVideo, secondaryUnreadableCode, type ProbeRole, type Rational, type VideoProbe } from './probe.ts';
import { selectFrames, type FrameSelectionMode } from './selection.ts';
import { lastLine, processLimits, runTool, type VideoToolOptions } from './tools.ts';

/** Input limits; each field documents its default. */
export interface VideoLimits {
  /** Fewer selectable frames than this is `input_too_short`. @default 1 */
  readonly minFrames?: number;
  /** A longer clip is `input_too_long`. @default 60 */
  readonly maxDurationSeconds?: number;
  /** More displayed pixels per frame than this is `input_too_large`. @default 4096 * 4096 (4K passes) */
  readonly maxSourcePixels?: number;
  /** A bigger file is `input_too_large`. @default 1 GiB */
  readonly maxInputBytes?: number;
}

export const DEFAULT_VIDEO_LIMITS = {
  minFrames: 1,
  maxDurationSeconds: 60,
  maxSourcePixels: 4096 * 4096,
  maxInputBytes: 1024 ** 3,
} as const satisfies Required<VideoLimits>;

export interface DecodeVideoOptions extends VideoToolOptions, VideoLimits {
  /** At most this many frames are returned. */
  readonly maxFrames: number;
  /** 'first' N frames, or 'spread' evenly over the clip (see selection.ts). @default 'spread' */
  readonly selection?: FrameSelectionMode;
  /** Stride of 'first' in source frames (FateZero's sampling_rate). @default 1 */
  readonly samplingRate?: number;
  /** Working size: the short side after resizing, a multiple of 64. */
  readonly size: number;
  /** Crop to size x size. @default false */
  readonly square?: boolean;
}

export interface DecodedVideo {
  /**
   * RGB24 frames, `height * width * 3` bytes each, row-major. They are views into one buffer, and a source frame
   * chosen twice (VFR input) is the same view twice: copy before writing into one.
   */
  readonly frames: Uint8Array[];
  /** Working size. */
  readonly width: number;
  readonly height: number;
  /** Output frame rate: the source rate divided by the selection stride. */
  readonly fps: number;
  readonly fpsRational: Rational;
  readonly sourceFps: number;
  /** Frames the source actually holds (counted from its packets). */
  readonly sourceFrameCount: number;
  /** Source frame (presentation order) behind each returned frame. */
  readonly sourceFrameIndices: number[];
  /** Presentation time of each returned frame, seconds from the clip's first frame. */
  readonly sourceTimes: number[];
  /** Resize and crop that produced the working size (for the report and for mask alignment). */
  readonly geometry: WorkingGeometry;
  readonly probe: VideoProbe;
}

/**
 * Decodes `path` into working-size RGB24 frames.
 * @throws VideoInputError `input_empty`, `input_unreadable`, `input_truncated` (fewer frames than the container
 *   promised, or a decode that stopped early), `input_too_short` (fewer than `minFrames`), `input_too_long`,
 *   `input_too_large`.
 * @throws VideoToolError when ffmpeg/ffprobe is missing or runs past `timeoutMs`.
 * @throws RangeError for invalid options (size not a multiple of 64, maxFrames < 1).
 * @example const video = await decodeVideo('clip.mp4', { maxFrames: 8, selection: 'spread', size: 512 });
 */
export async function decodeVideo(path: string, options: DecodeVideoOptions): Promise<DecodedVideo> {
  const limits = { ...DEFAULT_VIDEO_LIMITS, ...definedLimits(options) };
  checkDecodeOptions(options, limits);

  // 1. Probe and check what can be checked without decoding.
  const probe = await probeVideo(path, options);
  checkLimits(probe, limits);
  const geometry = workingGeometry(probe.width, probe.height, { size: options.size, square: options.square });

  // 2. Every frame the file holds, by presentation time; a header promising more means the file was cut.
  const frameTimes = await probeFrameTimes(path, options);
  if (frameTimes.length === 0) throw new VideoInputError('input_unreadable', 'The video stream holds no frames.');
  // Containers without a duration (raw streams) are measured by their frames instead.
  const clipSeconds = frameTimes[frameTimes.length - 1] + 1 / probe.fps;
  if (clipSeconds > limits.maxDurationSeconds + 1e-6) throw tooLong(clipSeconds, limits.maxDurationSeconds);
  if (probe.frameCountFromHeader && frameTimes.length < probe.frameCount) {
    throw new VideoInputError(
      'input_truncated',
      `The file is truncated: its header promises ${probe.frameCount} frames but only ${frameTimes.length} are present. Upload the complete file.`,
    );
  }

  // 3. Choose frames.
  const selection = selectFrames(frameTimes, { maxFrames: options.maxFrames, mode: options.selection ?? 'spread', sourceFps: probe.fps, samplingRate: options.samplingRate });
  if (selection.indices.length < limits.minFrames) {
    throw new VideoInputError(
      'input_too_short',
      `The video has ${selection.indices.length} usable frame(s); at least ${limits.minFrames} are needed. Upload a longer clip.`,
    );
  }

  // 4. Decode the chosen frames at working size.
  const uniqueIndices = [...new Set(selection.indices)];
  const decoded = await decodeSelectedFrames(path, uniqueIndices, geometry, 'input', options);
  const byIndex = new Map(uniqueIndices.map((index, i) => [index, decoded[i]]));

  return {
    frames: selection.indices.map((index) => byIndex.get(index) as Uint8Array),
    width: geometry.crop.width,
    height: geometry.crop.height,
    fps: selection.fps,
    fpsRational: { num: probe.fpsRational.num, den: probe.fpsRational.den * selection.stride },
    sourceFps: probe.fps,
    sourceFrameCount: frameTimes.length,
    sourceFrameIndices: selection.indices,
    sourceTimes: selection.times,
    geometry,
    probe,
  };
}

/**
 * The span of the source that a decoded clip plays, for `encodeVideo`'s `audioFrom`: where its first frame sits on
 * the container timeline (what ffmpeg's -ss counts from) and how long the output lasts.
 * @example await encodeVideo(frames, { ..., audioFrom: { path, ...outputSpan(video) } });
 */
export function outputSpan(video: Pick<DecodedVideo, 'frames' | 'fps' | 'sourceTimes' | 'probe'>): { startSeconds: number; durationSeconds: number } {
  const firstFrameOffset = video.probe.startSeconds - video.probe.containerStartSeconds;
  return { startSeconds: Math.max(0, firstFrameOffset + (video.sourceTimes[0] ?? 0)), durationSeconds: video.frames.length / video.fps };
}

/**
 * Runs ffmpeg to decode the frames at `indices` (presentation order, ascending, unique) with `geometry` applied,
 * as RGB24. Shared with mask.ts.
 * @throws VideoInputError when fewer frames arrive than requested: `input_truncated` (`input_unreadable` when none
 *   arrive and ffmpeg failed) for an input, `mask_unreadable` for a mask.
 */
export async function decodeSelectedFrames(
  path: string,
  indices: readonly number[],
  geometry: WorkingGeometry,
  role: ProbeRole,
  options: VideoToolOptions,
): Promise<Uint8Array[]> {
  const frameBytes = geometry.crop.width * geometry.crop.height * 3;
  const wanted = indices.length;
  const buffer = new Uint8Array(frameBytes * wanted);
  let received = 0;
  const filter = `select=${selectExpression(indices)},${geometryFilter(geometry)},format=rgb24`;
  const run = await runTool(
    options.ffmpegPath ?? 'ffmpeg',
    ['-nostdin', '-hide_banner', '-v', 'error', '-i', path, '-map', '0:v:0', '-an', '-sn', '-dn', '-vf', filter,
      '-fps_mode', 'passthrough', '-frames:v', String(wanted), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    {
      ...processLimits(options),
      onStdout: (chunk) => {
        // -frames:v bounds the output; anything past it is dropped rather than overflowing the buffer.
        const room = buffer.length - received;
        buffer.set(room >= chunk.length ? chunk : chunk.subarray(0, room), received);
        received += Math.min(room, chunk.length);
      },
    },
  );
  const framesReceived = Math.floor(received / frameBytes);
  if (framesReceived < wanted) {
    const code = secondaryUnreadableCode(role) ?? (framesReceived === 0 && run.exitCode !== 0 ? 'input_unreadable' : 'input_truncated');
    throw new VideoInputError(
      code,
      `Decoding stopped after ${framesReceived} of ${wanted} frames (${lastLine(run.stderrTail)}). The ${role} file is damaged or incomplete; upload it again.`,
    );
  }
  return Array.from({ length: wanted }, (_, i) => buffer.subarray(i * frameBytes, (i + 1) * frameBytes));
}

/** An ffmpeg `select` expression keeping exactly `indices`, written as runs so 'first' stays one term. */
export function selectExpression(indices: readonly number[]): string {
  const terms: string[] = [];
  let runStart = 0;
  for (let i = 1; i <= indices.length; i++) {
    if (i < indices.length && indices[i] === indices[i - 1] + 1) continue;
    const from = indices[runStart];
    const to = indices[i - 1];
    // Commas inside filter arguments must be escaped for ffmpeg's filtergraph parser.
    terms.push(from === to ? `eq(n\\,${from})` : `between(n\\,${from}\\,${to})`);
    runStart = i;
  }
  return terms.join('+');
}

/** Caller mistakes fail before any process starts. */
function checkDecodeOptions(options: DecodeVideoOptions, limits: Required<VideoLimits>): void {
  const { maxFrames, size } = options;
  if (!Number.isInteger(maxFrames) || maxFrames < 1) throw new RangeError(`maxFrames must be a whole number >= 1, got ${maxFrames}.`);
  if (!Number.isInteger(limits.minFrames) || limits.minFrames < 1 || limits.minFrames > maxFrames) {
    throw new RangeError(`minFrames must be a whole number in 1..maxFrames (${maxFrames}), got ${limits.minFrames}.`);
  }
  if (!Number.isInteger(size) || size <= 0 || size % WORKING_SIZE_MULTIPLE !== 0) {
    throw new RangeError(`size must be a positive multiple of ${WORKING_SIZE_MULTIPLE}, got ${size}.`);
  }
  const selection = options.selection ?? 'spread';
  if (selection !== 'first' && selection !== 'spread') throw new RangeError(`selection must be 'first' or 'spread', got '${String(selection)}'.`);
}

function checkLimits(probe: VideoProbe, limits: Required<VideoLimits>): void {
  if (probe.sizeBytes > limits.maxInputBytes) {
    throw new VideoInputError('input_too_large', `The file is ${probe.sizeBytes} bytes; the limit is ${limits.maxInputBytes}. Upload a shorter or more compressed clip.`);
  }
  if (probe.width * probe.height > limits.maxSourcePixels) {
    throw new VideoInputError(
      'input_too_large',
      `The video is ${probe.width}x${probe.height}; at most ${limits.maxSourcePixels} pixels per frame are accepted. Downscale it first.`,
    );
  }
  if (probe.durationSeconds > limits.maxDurationSeconds) throw tooLong(probe.durationSeconds, limits.maxDurationSeconds);
}

function tooLong(seconds: number, limitSeconds: number): VideoInputError {
  return new VideoInputError('input_too_long', `The video lasts ${seconds.toFixed(2)} s; the limit is ${limitSeconds} s. Trim it first.`);
}

function definedLimits(options: VideoLimits): VideoLimits {
  const limits: Record<string, number> = {};
  for (const key of Object.keys(DEFAULT_VIDEO_LIMITS) as (keyof VideoLimits)[]) {
    const value = options[key];
    if (value !== undefined) limits[key] = value;
  }
  return limits;
}

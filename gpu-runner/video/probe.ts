/**
 * What a video file holds, read with ffprobe: stream geometry, rate, duration, rotation, audio, and (separately,
 * because it reads the whole file) the presentation time of every video frame.
 */
import { stat } from 'node:fs/promises';

import { containerNames } from '../../shared/containers.ts';
import { VideoInputError } from './errors.ts';
import { lastLine, processLimits, runTool, type VideoToolOptions } from './tools.ts';

/** A frame rate or aspect ratio as ffprobe writes it ("30000/1001"). */
export interface Rational {
  readonly num: number;
  readonly den: number;
}

export interface VideoProbe {
  /** File size in bytes. */
  readonly sizeBytes: number;
  /** Container duration, else the video stream's; 0 when neither is known. */
  readonly durationSeconds: number;
  /** Presentation time of the first video frame, seconds (usually 0). */
  readonly startSeconds: number;
  /** Start of the container timeline, seconds; ffmpeg's input seeking (-ss) counts from here. */
  readonly containerStartSeconds: number;
  /** Average frame rate (avg_frame_rate, else r_frame_rate). */
  readonly fps: number;
  readonly fpsRational: Rational;
  /** Frames the container promises: nb_frames when the container stores it (MP4, MOV), else counted from packets (WebM, MKV). */
  readonly frameCount: number;
  /** True when `frameCount` came from the container header (so a shortfall means a truncated file). */
  readonly frameCountFromHeader: boolean;
  /** Size as displayed: rotation and non-square pixels applied. */
  readonly width: number;
  readonly height: number;
  /** Size of the coded pictures. */
  readonly codedWidth: number;
  readonly codedHeight: number;
  /** Display rotation from the display matrix (or the legacy `rotate` tag), normalized to 0, 90, 180 or 270. */
  readonly rotation: 0 | 90 | 180 | 270;
  readonly codec: string;
  readonly pixFmt: string;
  readonly hasAudio: boolean;
  /** Transfer characteristic as ffprobe names it ('bt709', 'smpte2084', 'arib-std-b67', ...); 'unknown' if untagged. */
  readonly colorTransfer: string;
  /**
   * PQ or HLG transfer (phone HDR). Such clips decode without tone mapping, so their colours come out flat or
   * clipped; callers may want to warn.
   */
  readonly isHdr: boolean;
}

/** Transfer characteristics of HDR video (PQ and HLG). */
const HDR_TRANSFERS = new Set(['smpte2084', 'arib-std-b67']);

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  duration?: string;
  start_time?: string;
  sample_aspect_ratio?: string;
  color_transfer?: string;
  tags?: Record<string, string>;
  // Cover art in MP4/MKV is a one-frame "video" stream flagged attached_pic; it is never the clip.
  disposition?: { attached_pic?: number };
  side_data_list?: { side_data_type?: string; rotation?: number }[];
}

interface FfprobeOutput {
  streams?: FfprobeStream[];
  format?: { duration?: string; format_name?: string; start_time?: string };
}

/** Which error code a failure maps to: a mask file gets `mask_unreadable`, a control video `control_unreadable`, an input `input_*`. */
export type ProbeRole = 'input' | 'mask' | 'control';

/** The one code every failure of a secondary (mask or control) video gets; undefined for the input. */
export function secondaryUnreadableCode(role: ProbeRole): 'mask_unreadable' | 'control_unreadable' | undefined {
  return role === 'mask' ? 'mask_unreadable' : role === 'control' ? 'control_unreadable' : undefined;
}

/**
 * Reads the container and first video stream of `path`.
 * @throws VideoInputError `input_empty` (zero bytes), `input_unreadable` (missing file, not a media file, no video
 *   stream, no usable size or rate); with `role: 'mask'` every failure is `mask_unreadable`.
 * @throws VideoToolError when ffprobe is missing or times out.
 * @example const probe = await probeVideo('clip.mp4', { ffprobePath: 'ffprobe' });
 */
export async function probeVideo(path: string, options: VideoToolOptions & { role?: ProbeRole } = {}): Promise<VideoProbe> {
  const role = options.role ?? 'input';
  const unreadable = (message: string, cause?: unknown): VideoInputError =>
    new VideoInputError(secondaryUnreadableCode(role) ?? 'input_unreadable', message, { cause });

  let sizeBytes: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a regular file');
    sizeBytes = info.size;
  } catch (error) {
    throw unreadable(`Cannot read the ${role} video file: ${(error as Error).message}.`, error);
  }
  if (sizeBytes === 0) {
    throw new VideoInputError(secondaryUnreadableCode(role) ?? 'input_empty', `The ${role} video file is empty (0 bytes). Upload the file again.`);
  }

  const run = await runTool(
    options.ffprobePath ?? 'ffprobe',
    ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', path],
    processLimits(options),
  );
  if (run.exitCode !== 0) {
    throw unreadable(`The ${role} file is not a readable video (${lastLine(run.stderrTail)}). Supported: ${containerNames()}.`);
  }
  let parsed: FfprobeOutput;
  try {
    parsed = JSON.parse(run.stdout.toString('utf8')) as FfprobeOutput;
  } catch (error) {
    throw unreadable(`ffprobe printed something that is not JSON for the ${role} file.`, error);
  }

  const streams = parsed.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (!video) throw unreadable(`The ${role} file has no video stream (streams: ${streams.map((s) => s.codec_type).join(', ') || 'none'}).`);

  const codedWidth = video.width ?? 0;
  const codedHeight = video.height ?? 0;
  if (codedWidth <= 0 || codedHeight <= 0) throw unreadable(`The ${role} video has no picture size (width ${codedWidth}, height ${codedHeight}).`);

  const fpsRational = pickFrameRate(video);
  if (!fpsRational) throw unreadable(`The ${role} video has no usable frame rate (avg ${video.avg_frame_rate}, r ${video.r_frame_rate}).`);

  const rotation = readRotation(video);
  const sar = parseRational(video.sample_aspect_ratio);
  const displayWidth = sar && sar.num > 0 && sar.den > 0 ? Math.round((codedWidth * sar.num) / sar.den) : codedWidth;
  const quarterTurn = rotation === 90 || rotation === 270;

  const headerFrames = Number(video.nb_frames);
  const frameCountFromHeader = Number.isInteger(headerFrames) && headerFrames > 0;
  const durationSeconds = positiveNumber(parsed.format?.duration) ?? positiveNumber(video.duration) ?? 0;
  const fps = fpsRational.num / fpsRational.den;
  const frameCount = frameCountFromHeader ? headerFrames : await countVideoPackets(path, options, unreadable);

  return {
    sizeBytes,
    durationSeconds,
    startSeconds: Number(video.start_time) || 0,
    containerStartSeconds: Number(parsed.format?.start_time) || 0,
    fps,
    fpsRational,
    frameCount,
    frameCountFromHeader,
    width: quarterTurn ? codedHeight : displayWidth,
    height: quarterTurn ? displayWidth : codedHeight,
    codedWidth,
    codedHeight,
    rotation,
    codec: video.codec_name ?? 'unknown',
    pixFmt: video.pix_fmt ?? 'unknown',
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
    colorTransfer: video.color_transfer ?? 'unknown',
    isHdr: HDR_TRANSFERS.has(video.color_transfer ?? ''),
  };
}

/**
 * Presentation times (seconds, ascending, relative to the first frame) of every video frame the file actually
 * holds, read from the packet index. Packets the demuxer marks as discarded (edit lists) are left out.
 * @throws VideoInputError `input_unreadable` (or `mask_unreadable`) when the packets cannot be listed.
 */
export async function probeFrameTimes(path: string, options: VideoToolOptions & { role?: ProbeRole } = {}): Promise<number[]> {
  const run = await runTool(
    options.ffprobePath ?? 'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,dts_time,flags', '-of', 'json', path],
    processLimits(options),
  );
  const code = secondaryUnreadableCode(options.role ?? 'input') ?? 'input_unreadable';
  if (run.exitCode !== 0) throw new VideoInputError(code, `Cannot list the video frames (${lastLine(run.stderrTail)}).`);
  let packets: { pts_time?: string; dts_time?: string; flags?: string }[];
  try {
    packets = (JSON.parse(run.stdout.toString('utf8')) as { packets?: typeof packets }).packets ?? [];
  } catch (error) {
    throw new VideoInputError(code, 'ffprobe printed a packet list that is not JSON.', { cause: error });
  }
  const times: number[] = [];
  for (const packet of packets) {
    if (packet.flags?.includes('D')) continue;
    const time = Number(packet.pts_time ?? packet.dts_time);
    if (Number.isFinite(time)) times.push(time);
  }
  times.sort((a, b) => a - b);
  const first = times[0] ?? 0;
  return times.map((t) => t - first);
}

/** Counts the first video stream's packets (demuxing only, no decoding) for containers without nb_frames. */
async function countVideoPackets(path: string, options: VideoToolOptions, unreadable: (message: string) => VideoInputError): Promise<number> {
  const run = await runTool(
    options.ffprobePath ?? 'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', path],
    processLimits(options),
  );
  const count = Number.parseInt(run.stdout.toString('utf8').trim(), 10);
  if (run.exitCode !== 0 || !Number.isInteger(count)) throw unreadable(`Cannot count the video frames (${lastLine(run.stderrTail)}).`);
  return count;
}

function pickFrameRate(stream: FfprobeStream): Rational | undefined {
  for (const text of [stream.avg_frame_rate, stream.r_frame_rate]) {
    const rate = parseRational(text);
    if (rate && rate.num > 0 && rate.den > 0) return rate;
  }
  return undefined;
}

/** Parses "a/b" or "a:b"; undefined when malformed. */
export function parseRational(text: string | undefined): Rational | undefined {
  if (!text) return undefined;
  const match = /^(-?\d+)[/:](\d+)$/.exec(text.trim());
  if (!match) return undefined;
  return { num: Number(match[1]), den: Number(match[2]) };
}

function readRotation(stream: FfprobeStream): 0 | 90 | 180 | 270 {
  const fromMatrix = stream.side_data_list?.find((d) => d.side_data_type === 'Display Matrix')?.rotation;
  const degrees = fromMatrix ?? Number(stream.tags?.['rotate'] ?? 0);
  if (!Number.isFinite(degrees)) return 0;
  const quarter = (((Math.round(degrees / 90) % 4) + 4) % 4) as 0 | 1 | 2 | 3;
  return ([0, 90, 180, 270] as const)[quarter];
}

function positiveNumber(text: string | undefined): number | undefined {
  const value = Number(text);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

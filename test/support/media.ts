/**
 * Test media made on the fly with ffmpeg: small clips in any codec/container we accept, optional audio, variable
 * frame rate and rotation metadata, plus an ffprobe helper. Shared by every suite that needs a video file.
 *
 * The 'index' pattern makes frame i a flat grey of luma 16 + 8 * (i mod 28), so a decoded frame tells which
 * source frame it came from (`frameIndexOf`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type TestCodec = 'h264' | 'h265' | 'vp9' | 'prores';
/** 'index': flat grey encoding the frame number; 'halves': left half white, right half black; 'white'/'black': flat; 'testsrc': ffmpeg's moving test card. */
export type TestPattern = 'index' | 'halves' | 'white' | 'black' | 'testsrc';

export interface TestVideoOptions {
  /** @default 'h264' */
  codec?: TestCodec;
  /** @default 64 */
  width?: number;
  /** @default 64 */
  height?: number;
  /** @default 8 */
  fps?: number;
  /** @default 8 */
  frames?: number;
  /** Add a 440 Hz sine track of `audioSeconds`. @default false */
  audio?: boolean;
  /** @default frames / fps + 1 (longer than the video, so trimming shows) */
  audioSeconds?: number;
  /** First half of the frames at `fps`, second half at 2 * fps. @default false */
  vfr?: boolean;
  /** Display-matrix rotation in degrees (MP4/MOV only). @default 0 */
  rotation?: 0 | 90 | 180 | 270;
  /** @default 'index' */
  pattern?: TestPattern;
  /** 10-bit 4:2:0 (yuv420p10le), as phones record HEVC; h265 and vp9 only. @default false */
  tenBit?: boolean;
  /** Tag the stream as HDR with this transfer (BT.2020 primaries and matrix); use with tenBit. @default - SDR, untagged */
  hdrTransfer?: 'smpte2084' | 'arib-std-b67';
}

/** Luma of the 'index' pattern for source frame `index`. */
export function indexPatternLuma(index: number): number {
  return 16 + 8 * (index % 28);
}

/** Which source frame (mod 28) a decoded RGB24 frame of the 'index' pattern shows, from its mean red level. */
export function frameIndexOf(frame: Uint8Array): number {
  let sum = 0;
  for (let p = 0; p < frame.length; p += 3) sum += frame[p];
  const meanRgb = sum / (frame.length / 3);
  const luma = (meanRgb * 219) / 255 + 16;
  return Math.round((luma - 16) / 8);
}

/**
 * Writes a test clip to `path`; the container follows the extension (.mp4, .mov, .webm, .mkv).
 * @example await makeTestVideo(join(dir, 'a.webm'), { codec: 'vp9', frames: 4 });
 */
export async function makeTestVideo(path: string, options: TestVideoOptions = {}): Promise<void> {
  const { codec = 'h264', width = 64, height = 64, fps = 8, frames = 8, audio = false, vfr = false, rotation = 0, pattern = 'index' } = options;
  const audioSeconds = options.audioSeconds ?? frames / fps + 1;
  // 4:2:0 chroma needs even sides (ffmpeg would silently round an odd size down); odd sizes use 4:4:4.
  const pixelFormat: PixelFormat = options.tenBit ? 'yuv420p10le' : width % 2 === 1 || height % 2 === 1 ? 'yuv444p' : 'yuv420p';
  // The source's own duration ends the clip: -frames:v would also cut the audio short.
  const source = `${patternSource(pattern, width, height, fps, frames / fps)},format=${pixelFormat}`;
  const args = ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', source];
  if (audio) args.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${audioSeconds}`);
  const filters: string[] = [];
  if (vfr) {
    const half = Math.floor(frames / 2);
    const fullMs = 1000 / fps;
    filters.push('settb=1/1000', `setpts='if(lt(N\\,${half})\\,N*${fullMs}\\,${half * fullMs}+(N-${half})*${fullMs / 2})'`);
  }
  if (filters.length > 0) args.push('-vf', filters.join(','));
  args.push('-map', '0:v');
  if (audio) args.push('-map', '1:a', '-c:a', extname(path) === '.webm' ? 'libopus' : 'aac');
  if (vfr) args.push('-fps_mode', 'vfr', '-enc_time_base', '1/1000');
  args.push(...codecArgs(codec, pixelFormat));
  if (options.hdrTransfer) args.push('-color_primaries', 'bt2020', '-color_trc', options.hdrTransfer, '-colorspace', 'bt2020nc');
  const rotated = rotation !== 0;
  const encodedPath = rotated ? `${path}.unrotated${extname(path)}` : path;
  args.push(encodedPath);
  await execFileAsync('ffmpeg', args, { timeout: 60_000 });
  if (rotated) {
    // ffmpeg 5.1 writes a display matrix only when remuxing with the legacy `rotate` tag.
    await execFileAsync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', encodedPath, '-map', '0', '-c', 'copy',
      '-metadata:s:v:0', `rotate=${rotation}`, `${path}.tmp${extname(path)}`], { timeout: 60_000 });
    await rename(`${path}.tmp${extname(path)}`, path);
    await rm(encodedPath, { force: true });
  }
}

function patternSource(pattern: TestPattern, width: number, height: number, fps: number, seconds: number): string {
  const size = `${width}x${height}:d=${seconds}`;
  switch (pattern) {
    case 'index':
      return `color=c=black:s=${size}:r=${fps},format=yuv444p,geq=lum='16+8*mod(N\\,28)':cb=128:cr=128`;
    case 'halves':
      return `color=c=black:s=${size}:r=${fps},drawbox=x=0:y=0:w=iw/2:h=ih:color=white:t=fill`;
    case 'white':
    case 'black':
      return `color=c=${pattern}:s=${size}:r=${fps}`;
    case 'testsrc':
      return `testsrc2=s=${size}:r=${fps}`;
  }
}

type PixelFormat = 'yuv420p' | 'yuv444p' | 'yuv420p10le';

function codecArgs(codec: TestCodec, pixelFormat: PixelFormat): string[] {
  switch (codec) {
    case 'h264':
      return ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '12', '-pix_fmt', pixelFormat];
    case 'h265':
      return ['-c:v', 'libx265', '-preset', 'ultrafast', '-crf', '12', '-pix_fmt', pixelFormat, '-tag:v', 'hvc1', '-x265-params', 'log-level=error'];
    case 'vp9':
      return ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '0', '-crf', '15', '-pix_fmt', pixelFormat];
    case 'prores':
      return pixelFormat === 'yuv444p' ? ['-c:v', 'prores_ks', '-profile:v', '4', '-pix_fmt', 'yuv444p10le'] : ['-c:v', 'prores_ks', '-profile:v', '0', '-pix_fmt', 'yuv422p10le'];
  }
}

export interface FfprobeStreamJson {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  avg_frame_rate?: string;
  nb_frames?: string;
  duration?: string;
  [key: string]: unknown;
}

export interface FfprobeJson {
  streams: FfprobeStreamJson[];
  format: { duration?: string; format_name?: string; tags?: Record<string, string>; [key: string]: unknown };
}

/** ffprobe's streams and format of `path`, with `nb_read_frames` counted per stream when `countFrames` is set. */
export async function ffprobeJson(path: string, countFrames = false): Promise<FfprobeJson> {
  const args = ['-v', 'error', '-show_streams', '-show_format', '-of', 'json'];
  if (countFrames) args.push('-count_frames');
  const { stdout } = await execFileAsync('ffprobe', [...args, path], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as FfprobeJson;
}

/** A fresh temporary folder; remove it with `removeTempDir`. */
export function makeTempDir(prefix = 'ocd-video-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

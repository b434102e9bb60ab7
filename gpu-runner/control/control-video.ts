/**
 * Control videos supplied by the caller: a depth, pose or line-art map video (whatever the chosen ControlNet
 * expects), one map per frame of the input clip. This project cannot compute such maps itself, because the
 * estimators that make them (MiDaS, OpenPose, line-art networks) need weights that cannot ship with it; only
 * canny edges are computed here (canny.ts). A control video is decoded like a mask video: the clip's selected
 * frames, the same resize and crop, but as RGB24 maps, and it must hold exactly as many frames as the clip.
 */
import { decodeSelectedFrames, type DecodedVideo } from '../video/decode.ts';
import { VideoInputError } from '../video/errors.ts';
import type { WorkingGeometry } from '../video/geometry.ts';
import { probeFrameTimes, probeVideo } from '../video/probe.ts';
import type { VideoToolOptions } from '../video/tools.ts';

/** How far the control video's aspect ratio may differ from the clip's before it is `control_size` (2%, as masks). */
const ASPECT_TOLERANCE = 0.02;

/** The parts of a decoded clip a control video has to line up with. */
export type ControlTarget = Pick<DecodedVideo, 'sourceFrameIndices' | 'sourceFrameCount' | 'geometry'>;

export interface DecodedControl {
  /** One RGB24 map per output frame of the clip, `height * width * 3` bytes, row-major. */
  readonly frames: Uint8Array[];
  /** The clip's working size. */
  readonly width: number;
  readonly height: number;
  /** Control video frame behind each output frame (the clip's own source frame indices). */
  readonly controlFrameIndices: number[];
}

/**
 * Decodes the control video at `path` for the frames and working size of `target`.
 * @throws VideoInputError `control_unreadable` (missing, empty, not a video, truncated, decode failure),
 *   `control_frame_count` (not as many frames as the clip) or `control_size` (another aspect ratio).
 * @throws VideoToolError when ffmpeg/ffprobe is missing or runs past `timeoutMs`.
 * @example const control = await decodeControlVideo('depth.mp4', video);
 */
export async function decodeControlVideo(path: string, target: ControlTarget, options: VideoToolOptions = {}): Promise<DecodedControl> {
  const { geometry } = target;
  const probe = await probeVideo(path, { ...options, role: 'control' });

  const clipAspect = geometry.sourceWidth / geometry.sourceHeight;
  const controlAspect = probe.width / probe.height;
  if (Math.abs(controlAspect / clipAspect - 1) > ASPECT_TOLERANCE) {
    throw new VideoInputError(
      'control_size',
      `The control video is ${probe.width}x${probe.height} but the video is ${geometry.sourceWidth}x${geometry.sourceHeight}; their aspect ratios differ. ` +
        'Export the depth, pose or line-art maps at the video size.',
    );
  }

  const times = await probeFrameTimes(path, { ...options, role: 'control' });
  if (times.length === 0 || (probe.frameCountFromHeader && times.length < probe.frameCount)) {
    throw new VideoInputError('control_unreadable', `The control video holds ${times.length} of the ${probe.frameCount} frames its header promises.`);
  }
  if (times.length !== target.sourceFrameCount) {
    throw new VideoInputError(
      'control_frame_count',
      `The control video has ${times.length} frames but the video has ${target.sourceFrameCount}; a control video needs one map per video frame. ` +
        'Export the maps from the whole video, frame for frame.',
    );
  }

  const controlGeometry: WorkingGeometry = { ...geometry, sourceWidth: probe.width, sourceHeight: probe.height };
  const unique = [...new Set(target.sourceFrameIndices)].sort((a, b) => a - b);
  const decoded = await decodeSelectedFrames(path, unique, controlGeometry, 'control', options);
  const byIndex = new Map(unique.map((index, i) => [index, decoded[i]]));
  return {
    frames: target.sourceFrameIndices.map((index) => byIndex.get(index) as Uint8Array),
    width: geometry.crop.width,
    height: geometry.crop.height,
    controlFrameIndices: [...target.sourceFrameIndices],
  };
}

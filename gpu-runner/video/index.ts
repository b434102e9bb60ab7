/**
 * Video in and out via ffmpeg: probe, decode to working-size RGB24 frames, mask videos, tensors for the engine,
 * H.264 MP4 output and the side-by-side preview. See each module for details.
 */
export { VIDEO_ERROR_CODES, VIDEO_TOOL_ERROR_CODES, VideoInputError, VideoToolError, isVideoErrorCode } from './errors.ts';
export type { VideoErrorCode, VideoToolErrorCode } from './errors.ts';
export { DEFAULT_TOOL_TIMEOUT_MS, runTool } from './tools.ts';
export type { VideoToolOptions } from './tools.ts';
export { probeVideo, probeFrameTimes, parseRational } from './probe.ts';
export type { Rational, VideoProbe } from './probe.ts';
export { selectFrames } from './selection.ts';
export type { FrameSelection, FrameSelectionMode } from './selection.ts';
export { WORKING_SIZE_MULTIPLE, workingGeometry } from './geometry.ts';
export type { CropBox, WorkingGeometry } from './geometry.ts';
export { DEFAULT_VIDEO_LIMITS, decodeVideo, outputSpan } from './decode.ts';
export type { DecodeVideoOptions, DecodedVideo, VideoLimits } from './decode.ts';
export { alignMaskFrames, decodeMask, gridToMask, maskToGrid } from './mask.ts';
export type { DecodedMask, MaskTarget } from './mask.ts';
export { framesToTensor, tensorToFrames } from './frames.ts';
export { encodeVideo } from './encode.ts';
export type { AudioSource, EncodeVideoOptions, EncodedVideo } from './encode.ts';
export { composeSideBySide, renderMaskPanels, writePreview } from './preview.ts';
export type { MaskStyle, PreviewOptions } from './preview.ts';

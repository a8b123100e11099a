/**
 * What sendAudio() accepts. The bridge ends the whole stream on a nonsensical chunk (a rate it
 * cannot resample, a channel count it cannot mix), so such a chunk is refused here, with the
 * value in the message, before it can cost the session its stream.
 */
import { InvalidArgumentError } from "./errors";
import type { SendOptions } from "./types";
import type { AudioChunk } from "./wire";

export interface SendFormat {
  sampleRate: number;
  channels: number;
  trackId: number;
}

/** The chunk's format with its defaults, or why the bridge would refuse it. */
export function sendFormat(pcm: ArrayBufferView, options: SendOptions): SendFormat | InvalidArgumentError {
  const sampleRate = options.sampleRate ?? 16_000;
  const channels = options.channels ?? 1;
  const trackId = options.trackId ?? 0;
  if (!ArrayBuffer.isView(pcm)) return new InvalidArgumentError("pcm is not a Buffer, typed array or DataView");
  if (!Number.isInteger(sampleRate) || sampleRate < 8_000 || sampleRate > 192_000) {
    return new InvalidArgumentError(`sampleRate ${sampleRate} is not 8000-192000 Hz`);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 8) {
    return new InvalidArgumentError(`channels ${channels} is not 1-8`);
  }
  if (!Number.isInteger(trackId) || trackId < 0) {
    return new InvalidArgumentError(`trackId ${trackId} is not a track number`);
  }
  return { sampleRate, channels, trackId };
}

/** The AudioChunk for `pcm`, with its own copy: the caller may reuse its buffer at once. */
export function outgoingChunk(pcm: ArrayBufferView, format: SendFormat): AudioChunk {
  const copy = Buffer.allocUnsafe(pcm.byteLength);
  copy.set(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
  return { pcmData: copy, ...format, timestampMs: Date.now() };
}

/**
 * The playback factory: a PlayAudio call made into a Playback, and the playbacks still under
 * way, so dispose() can stop them (each cancel makes the bridge stop playing).
 */
import { randomUUID } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import { ClientClosedError, asBridgeError, type BridgeError } from "./errors";
import { Playback, forwardToCallbacks } from "./playback";
import type { BridgeTransport } from "./transport";
import type { Logger, PlayRequest } from "./types";
import type { ResponseOf } from "./wire";

export interface PlaybacksContext {
  userId: string;
  transport: BridgeTransport;
  log: Logger;
  closed: () => boolean;
  /** Call a user callback; one that throws is logged, never thrown into the client. */
  callback: <T>(listener: ((value: T) => void) | undefined, value: T) => void;
}

export class Playbacks {
  private readonly plays = new Set<Playback>();

  constructor(private readonly context: PlaybacksContext) {}

  start(request: PlayRequest): Playback {
    const requestId = request.requestId || `play-${randomUUID()}`;
    const call = this.call(requestId, request);
    const playback = new Playback(requestId, call, {
      signal: request.signal,
      closed: this.context.closed,
      onUnknownType: (type) => {
        this.context.log.warn?.({ type, requestId }, "unknown PlayAudioEvent type ignored");
      },
      onSettled: (settled) => this.plays.delete(settled),
    });
    if (!playback.finished) this.plays.add(playback);
    if (request.onStarted || request.onProgress) {
      void forwardToCallbacks(playback, request, this.context.callback);
    }
    return playback;
  }

  /** Stop every playback under way. */
  stopAll(reason: string): void {
    for (const playback of this.plays) playback.stop(reason);
  }

  /** The call, or why there is none. */
  private call(requestId: string, request: PlayRequest): grpc.ClientReadableStream<ResponseOf<"PlayAudio">> | BridgeError {
    if (this.context.closed()) return new ClientClosedError();
    try {
      return this.context.transport.playAudio({
        requestId,
        audioUrl: request.url,
        volume: request.volume ?? 0,
        stopOther: request.stopOther ?? false,
        userId: this.context.userId,
        trackId: request.trackId ?? 0,
      });
    } catch (error) {
      return asBridgeError(error, "PlayAudio");
    }
  }
}

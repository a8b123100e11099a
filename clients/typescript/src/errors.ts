/** One error tree: callers catch BridgeError, or one of its kinds when they care. */
import type * as grpc from "@grpc/grpc-js";

export class BridgeError extends Error {
  /** The gRPC status code when the error came from a call, else undefined. */
  readonly code: grpc.status | undefined;

  constructor(message: string, code?: grpc.status, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BridgeError";
    this.code = code;
  }
}

/** JoinRoom answered success=false (unreachable SFU, bad token, timeout ...). */
export class JoinError extends BridgeError {
  constructor(message: string) {
    super(message);
    this.name = "JoinError";
  }
}

/** A playback ended with FAILED, or its call broke before a final event. */
export class PlaybackError extends BridgeError {
  constructor(
    message: string,
    readonly requestId: string,
    code?: grpc.status,
  ) {
    super(message, code);
    this.name = "PlaybackError";
  }

  /** True when the playback was stopped (StopAudio, stop_other, leave) rather than broken. */
  get stopped(): boolean {
    return this.message.startsWith("stopped:");
  }
}

/** The client was used after dispose(), or dispose() ended what was in flight. */
export class ClientClosedError extends BridgeError {
  constructor(what = "the client is disposed") {
    super(what);
    this.name = "ClientClosedError";
  }
}

export function fromServiceError(error: grpc.ServiceError, what: string): BridgeError {
  return new BridgeError(`${what}: ${error.details || error.message}`, error.code, {
    cause: error,
  });
}

/**
 * One error tree: everything the package throws or rejects with is a BridgeError, so callers
 * catch one class, or one of its kinds when they care. Errors thrown by the caller's own
 * callbacks are the exception: they are the caller's, and pass through unchanged.
 */
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

/**
 * A value the client refuses before it reaches the bridge: an option, an address, an audio
 * format. The bridge would end the whole stream on a nonsensical chunk, so it is caught here.
 */
export class InvalidArgumentError extends BridgeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, undefined, options);
    this.name = "InvalidArgumentError";
  }
}

/** A call the object cannot take in its present state (a pacer started twice, a playback iterated twice). */
export class InvalidStateError extends BridgeError {
  constructor(message: string) {
    super(message);
    this.name = "InvalidStateError";
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

  /** True when the playback was stopped (StopAudio, stop_other, leave, abort) rather than broken. */
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

/** `error` itself when it is ours; otherwise a BridgeError that keeps it as its cause. */
export function asBridgeError(error: unknown, what: string): BridgeError {
  if (error instanceof BridgeError) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new BridgeError(`${what}: ${text}`, undefined, { cause: error });
}

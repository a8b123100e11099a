/**
 * One PlayAudio call, seen two ways: as the events it sends (`for await`) and as its outcome
 * (`await`). Iterating is optional and awaiting is optional; either alone is a complete use, so
 * an outcome nobody awaits never becomes an unhandled rejection.
 *
 * FAILED arrives as an event and the call's status follows it; the status decides nothing but
 * the code the PlaybackError carries (a refused URL: INVALID_ARGUMENT, no session: NOT_FOUND).
 * A playback that could not start (the client is disposed) ends with that error instead.
 */
import * as grpc from "@grpc/grpc-js";
import { AsyncQueue } from "./asyncQueue";
import { BridgeError, InvalidStateError, PlaybackError } from "./errors";
import { playEventType } from "./playEvents";
import type { PlayAudioEvent__Output } from "./wire";

export interface PlayProgress {
  requestId: string;
  positionMs: number;
  durationMs: number;
}

/** A play event as the loop sees it; FAILED is not one: the loop throws a PlaybackError. */
export interface PlayEvent extends PlayProgress {
  type: "STARTED" | "PROGRESS" | "COMPLETED";
}

/**
 * Events held for a consumer that is behind. PROGRESS is a position, not a log: an unread one is
 * replaced by the next, so a slow loop holds at most STARTED, the latest PROGRESS and COMPLETED.
 */
const HELD_EVENTS = 4;

export interface PlaybackContext {
  signal?: AbortSignal | undefined;
  /** True once the client is disposed: the calls it cancelled end as stopped. */
  closed(): boolean;
  onUnknownType(type: unknown): void;
  onSettled(playback: Playback): void;
}

export class Playback implements AsyncIterable<PlayEvent>, Promise<PlayProgress> {
  readonly [Symbol.toStringTag] = "Playback";
  private readonly events: AsyncQueue<PlayEvent>;
  private readonly outcome: Promise<PlayProgress>;
  private resolveOutcome!: (progress: PlayProgress) => void;
  private rejectOutcome!: (error: BridgeError) => void;
  private settled = false;
  private iterated = false;
  /** FAILED's text; the call's status follows it. */
  private failure: string | undefined;
  private readonly abort = (): void => this.stop("aborted by the caller");
  private readonly call: grpc.ClientReadableStream<PlayAudioEvent__Output> | undefined;

  /** `call` is the PlayAudio call, or the error that kept it from starting. */
  constructor(
    readonly requestId: string,
    call: grpc.ClientReadableStream<PlayAudioEvent__Output> | BridgeError,
    private readonly context: PlaybackContext,
  ) {
    this.outcome = new Promise<PlayProgress>((resolve, reject) => {
      this.resolveOutcome = resolve;
      this.rejectOutcome = reject;
    });
    this.outcome.catch(() => undefined);
    this.events = new AsyncQueue<PlayEvent>({
      maxItems: HELD_EVENTS,
      supersedes: (last, next) => last.type === "PROGRESS" && next.type === "PROGRESS",
      onReturn: () => this.stop("the caller stopped iterating"),
    });
    if (call instanceof BridgeError) {
      this.settle(call);
      return;
    }
    this.call = call;
    call.on("data", (event: PlayAudioEvent__Output) => this.onEvent(event));
    call.on("error", () => undefined); // reported through "status", which always follows
    call.on("status", (status: grpc.StatusObject) => this.onStatus(status));
    if (context.signal?.aborted) this.abort();
    else context.signal?.addEventListener("abort", this.abort, { once: true });
  }

  /** The events, once: STARTED, PROGRESS ..., COMPLETED; FAILED or a broken call throws. */
  [Symbol.asyncIterator](): AsyncIterator<PlayEvent> {
    if (this.iterated) throw new InvalidStateError("a playback's events can be iterated only once");
    this.iterated = true;
    return this.events;
  }

  then<A = PlayProgress, B = never>(
    onFulfilled?: ((value: PlayProgress) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.outcome.then(onFulfilled, onRejected);
  }

  catch<B = never>(
    onRejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<PlayProgress | B> {
    return this.outcome.catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<PlayProgress> {
    return this.outcome.finally(onFinally);
  }

  /** True once the outcome is decided (it may still be on its way to the promise). */
  get finished(): boolean {
    return this.settled;
  }

  /**
   * Cancel the call, so the bridge stops playing; the playback ends with a PlaybackError that
   * says `stopped: <reason>`. A no-op once it has ended.
   */
  stop(reason = "stopped by the caller"): void {
    if (this.settled) return;
    this.settle(new PlaybackError(`stopped: ${reason}`, this.requestId, grpc.status.CANCELLED));
    this.call?.cancel();
  }

  private onEvent(event: PlayAudioEvent__Output): void {
    if (this.settled) return;
    const progress: PlayProgress = {
      requestId: event.requestId || this.requestId,
      positionMs: event.positionMs,
      durationMs: event.durationMs,
    };
    const type = playEventType(event.type);
    switch (type) {
      case "STARTED":
      case "PROGRESS":
        this.events.push({ type, ...progress });
        break;
      case "COMPLETED":
        this.settle(progress);
        break;
      case "FAILED":
        this.failure = event.error || "playback failed";
        break;
      default:
        this.context.onUnknownType(event.type);
    }
  }

  private onStatus(status: grpc.StatusObject): void {
    const ok = status.code === grpc.status.OK;
    const code = ok ? undefined : status.code;
    if (this.context.closed() && this.failure === undefined && !ok) {
      this.settle(new PlaybackError("stopped: client disposed", this.requestId, code));
    } else if (this.failure !== undefined) {
      this.settle(new PlaybackError(this.failure, this.requestId, code));
    } else {
      const message = ok
        ? "the bridge ended PlayAudio without COMPLETED or FAILED"
        : `PlayAudio: ${status.details}`;
      this.settle(new PlaybackError(message, this.requestId, code));
    }
  }

  private settle(outcome: PlayProgress | BridgeError): void {
    if (this.settled) return;
    this.settled = true;
    this.context.signal?.removeEventListener("abort", this.abort);
    this.context.onSettled(this);
    if (outcome instanceof BridgeError) {
      this.events.end(outcome);
    } else {
      this.events.push({ type: "COMPLETED", ...outcome });
      this.events.end();
    }
    // After the microtasks of a loop that is reading the events: `await playback` next to a
    // `for await` sees every event before it sees the outcome.
    setImmediate(() => {
      if (outcome instanceof BridgeError) this.rejectOutcome(outcome);
      else this.resolveOutcome(outcome);
    });
  }
}

type PlayListener = (event: PlayProgress) => void;

/** The deprecated callbacks, fed from the events; the outcome still comes through the promise. */
export async function forwardToCallbacks(
  playback: Playback,
  callbacks: { onStarted?: PlayListener | undefined; onProgress?: PlayListener | undefined },
  call: (listener: PlayListener | undefined, event: PlayProgress) => void,
): Promise<void> {
  try {
    for await (const { type, ...progress } of playback) {
      if (type === "STARTED") call(callbacks.onStarted, progress);
      else if (type === "PROGRESS") call(callbacks.onProgress, progress);
    }
  } catch {
    // FAILED and stops reach the caller through the playback's promise.
  }
}

/**
 * When and how often a broken stream is retried: the policy only, no calls. The session asks
 * it whether an ending is worth a retry and how long to wait before the next attempt; the
 * waiting itself ends early when the attempt it belongs to is given up (leave, dispose, a new
 * connect), so a disposed client keeps no timer.
 */
import * as grpc from "@grpc/grpc-js";
import { Backoff, type BackoffOptions } from "./backoff";

export interface ReconnectOptions extends BackoffOptions {
  /** Reconnect after a broken stream (default true). */
  enabled?: boolean;
  /** Attempts before giving up and emitting "reconnectFailed" (default 10). */
  maxAttempts?: number;
  /** A stream that lived this long resets the backoff when it breaks (default 5 000 ms). */
  stableAfterMs?: number;
}

/** Stream endings a retry cannot cure. */
const FINAL = new Set<number>([grpc.status.INVALID_ARGUMENT, grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED]);

/** How long one reconnect attempt waits for the bridge before the next backoff step. */
export const RECONNECT_PROBE_MS = 2_000;

export class ReconnectPolicy {
  readonly enabled: boolean;
  readonly maxAttempts: number;
  readonly stableAfterMs: number;
  /** The channel's own reconnect backoff is held to ours (else up to 120 s after a restart). */
  readonly maxDelayMs: number;
  private readonly backoff: Backoff;

  constructor(options: ReconnectOptions = {}) {
    this.enabled = options.enabled ?? true;
    this.maxAttempts = options.maxAttempts ?? 10;
    this.stableAfterMs = options.stableAfterMs ?? 5_000;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.backoff = new Backoff(options);
  }

  /** Attempts since the last reset. */
  get attempts(): number {
    return this.backoff.attempts;
  }

  /** Whether a stream that ended with `code` is worth reopening. */
  retries(code: number): boolean {
    return this.enabled && !FINAL.has(code);
  }

  /** A stream broke after `livedMs`: one that lived long enough starts the backoff afresh. */
  streamBroke(livedMs: number): void {
    if (livedMs >= this.stableAfterMs) this.backoff.reset();
  }

  /** The delay before the next attempt, or undefined once attempts are used up (then reset). */
  nextDelay(): number | undefined {
    if (this.backoff.attempts >= this.maxAttempts) {
      this.backoff.reset(); // a later connect() starts afresh
      return undefined;
    }
    return this.backoff.next();
  }

  reset(): void {
    this.backoff.reset();
  }
}

/** Wait `ms`, or less when `signal` aborts; the timer never outlives the wait. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const wake = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal.addEventListener("abort", wake, { once: true });
  });
}

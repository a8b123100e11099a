/**
 * Reconnect delays: exponential, capped, with jitter. Many cloud pods reconnect to one restarted
 * bridge at the same moment; jitter spreads them so the bridge is not hit by a thundering herd.
 */

import { InvalidArgumentError } from "./errors";

export interface BackoffOptions {
  /** First delay in ms (default 250). */
  initialDelayMs?: number;
  /** Largest delay in ms (default 10 000). */
  maxDelayMs?: number;
  /** Growth per attempt (default 2). */
  multiplier?: number;
  /** Share of each delay that is random, 0..1 (default 0.5: a delay lies in [d/2, d]). */
  jitter?: number;
}

export class Backoff {
  private readonly initial: number;
  private readonly max: number;
  private readonly multiplier: number;
  private readonly jitter: number;
  private attempt = 0;

  constructor(options: BackoffOptions = {}, private readonly random: () => number = Math.random) {
    this.initial = options.initialDelayMs ?? 250;
    this.max = options.maxDelayMs ?? 10_000;
    this.multiplier = options.multiplier ?? 2;
    this.jitter = Math.min(Math.max(options.jitter ?? 0.5, 0), 1);
    if (this.initial <= 0 || this.max < this.initial || this.multiplier < 1) {
      throw new InvalidArgumentError("backoff needs 0 < initialDelayMs <= maxDelayMs and multiplier >= 1");
    }
  }

  /** Attempts made since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The delay before the next attempt, in ms. */
  next(): number {
    const ceiling = Math.min(this.max, this.initial * this.multiplier ** this.attempt);
    this.attempt += 1;
    return ceiling * (1 - this.jitter * this.random());
  }

  reset(): void {
    this.attempt = 0;
  }
}

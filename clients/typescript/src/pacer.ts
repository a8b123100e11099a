/**
 * Steady audio for consumers that need it (speech recognisers want one chunk per 100 ms).
 *
 * Audio from the room arrives in bursts (several chunks in a few ms, then a gap). Pacing lives
 * in the consumer, with one timer per pacer (a timer per tick is how pacing leaks), a bounded
 * buffer that drops the oldest audio when the consumer cannot keep up, and a schedule tied to
 * the start time so the cadence does not drift with timer lateness.
 */
import { InvalidArgumentError, InvalidStateError } from "./errors";

export interface PacerOptions {
  /** Cadence of emitted frames in ms (default 100). */
  intervalMs?: number;
  /** Sample rate of the PCM16 audio pushed in (default 16 000). */
  sampleRate?: number;
  /** Channels of the audio pushed in (default 1). */
  channels?: number;
  /** Most audio held, in ms (default 1 000); older audio is dropped past it. */
  maxBufferedMs?: number;
  /** Emit a frame of silence when nothing is buffered at a tick (default false: skip the tick). */
  fillSilence?: boolean;
  /** Clock in ms (default performance.now); tests pass a mocked one. */
  now?: () => number;
}

export interface PacerStats {
  framesEmitted: number;
  droppedBytes: number;
  underruns: number;
  bufferedBytes: number;
}

export class AudioPacer {
  readonly intervalMs: number;
  readonly frameBytes: number;
  private readonly maxBytes: number;
  private readonly fillSilence: boolean;
  private readonly align: number;
  private readonly now: () => number;
  private readonly parts: Buffer[] = [];
  private buffered = 0;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private ticks = 0;
  private runs = 0;
  private readonly stats = { framesEmitted: 0, droppedBytes: 0, underruns: 0 };

  constructor(options: PacerOptions = {}) {
    this.intervalMs = options.intervalMs ?? 100;
    const rate = options.sampleRate ?? 16_000;
    const channels = options.channels ?? 1;
    const bytesPerMs = (rate * channels * 2) / 1000;
    this.frameBytes = Math.round(bytesPerMs * this.intervalMs);
    this.maxBytes = Math.round(bytesPerMs * (options.maxBufferedMs ?? 1000));
    this.fillSilence = options.fillSilence ?? false;
    this.now = options.now ?? (() => performance.now());
    this.align = channels * 2;
    if (!(this.frameBytes > 0) || this.frameBytes % this.align !== 0) {
      throw new InvalidArgumentError("intervalMs must give a whole number of samples per frame");
    }
    if (this.maxBytes < this.frameBytes) {
      throw new InvalidArgumentError("maxBufferedMs must hold at least one frame");
    }
  }

  /** Add audio; returns the number of old bytes dropped to stay within maxBufferedMs. */
  push(pcm: Uint8Array): number {
    if (pcm.length === 0) return 0;
    const copy = Buffer.allocUnsafe(pcm.byteLength); // the caller may reuse its buffer
    copy.set(pcm);
    this.parts.push(copy);
    this.buffered += pcm.length;
    let excess = this.buffered - this.maxBytes;
    if (excess <= 0) return 0;
    excess += (this.align - (excess % this.align)) % this.align; // whole samples
    excess = Math.min(excess, this.buffered);
    this.discard(excess);
    this.stats.droppedBytes += excess;
    return excess;
  }

  /** The next frame, if a whole one is buffered (or silence when fillSilence is set). */
  pull(): Buffer | undefined {
    if (this.buffered < this.frameBytes) {
      this.stats.underruns += 1;
      return this.fillSilence ? Buffer.alloc(this.frameBytes) : undefined;
    }
    const frame = this.take(this.frameBytes);
    this.stats.framesEmitted += 1;
    return frame;
  }

  /**
   * Call `onFrame` every intervalMs with the next frame until stop(). An error thrown by
   * `onFrame` goes to `onError` (without one it is rethrown); the cadence goes on either way.
   */
  start(onFrame: (frame: Buffer) => void, onError?: (error: unknown) => void): void {
    if (this.timer) throw new InvalidStateError("the pacer is already running");
    const run = ++this.runs; // a stop() + start() inside onFrame must not leave two loops
    this.startedAt = this.now();
    this.ticks = 0;
    const tick = (): void => {
      this.ticks += 1;
      try {
        const frame = this.pull();
        if (frame) onFrame(frame);
      } catch (error) {
        if (!onError) throw error;
        onError(error);
      } finally {
        if (run === this.runs && this.timer) this.schedule(tick);
      }
    };
    this.timer = setTimeout(tick, this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.runs += 1;
  }

  private schedule(tick: () => void): void {
    let due = this.startedAt + (this.ticks + 1) * this.intervalMs;
    const now = this.now();
    if (now - due > 2 * this.intervalMs) {
      // The loop stalled: start the cadence again from now rather than firing the missed ticks
      // back to back (a burst is what pacing is meant to prevent).
      this.startedAt = now;
      this.ticks = 0;
      due = now + this.intervalMs;
    }
    this.timer = setTimeout(tick, Math.max(0, due - now));
    this.timer.unref?.();
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  snapshot(): PacerStats {
    return { ...this.stats, bufferedBytes: this.buffered };
  }

  private take(count: number): Buffer {
    const out = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const head = this.parts[0]!;
      const used = Math.min(head.length, count - filled);
      head.copy(out, filled, 0, used);
      filled += used;
      if (used === head.length) this.parts.shift();
      else this.parts[0] = head.subarray(used);
    }
    this.buffered -= count;
    return out;
  }

  private discard(count: number): void {
    this.take(count);
  }
}

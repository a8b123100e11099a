/**
 * Audio on its way to the bridge, bounded.
 *
 * gRPC's write() returns false once the stream's buffer is full (HTTP/2 flow control reached
 * us); writing on regardless is how a slow bridge turns into unbounded memory in the cloud.
 * Chunks wait here instead, for 'drain', and while a stream is being re-opened. Real-time audio
 * goes stale, so when the queue is full the oldest chunk is dropped and counted.
 */

import { InvalidArgumentError } from "./errors";

/** The part of a gRPC client stream the queue writes to. */
export interface ChunkSink<T> {
  write(chunk: T): boolean;
  once(event: "drain", listener: () => void): unknown;
  removeListener(event: "drain", listener: () => void): unknown;
}

interface Pending<T> {
  chunk: T;
  settle: (written: boolean) => void;
}

export class AudioSendQueue<T> {
  private readonly pending: Pending<T>[] = [];
  private sink: ChunkSink<T> | undefined;
  private waitingForDrain: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  /** Chunks dropped because the queue was full (oldest first), or discarded by clear(). */
  dropped = 0;
  /** Chunks handed to a stream. */
  written = 0;

  constructor(readonly maxChunks: number) {
    if (!Number.isInteger(maxChunks) || maxChunks < 1) {
      throw new InvalidArgumentError("maxChunks must be a positive integer");
    }
  }

  get length(): number {
    return this.pending.length;
  }

  /** Queue a chunk; the promise says whether it reached a stream (false: dropped). */
  push(chunk: T): Promise<boolean> {
    return new Promise<boolean>((settle) => {
      this.pending.push({ chunk, settle });
      while (this.pending.length > this.maxChunks) {
        this.pending.shift()?.settle(false);
        this.dropped += 1;
      }
      this.pump();
    });
  }

  /** Start writing to `sink` (a newly opened stream). */
  attach(sink: ChunkSink<T>): void {
    this.detach();
    this.sink = sink;
    this.pump();
  }

  /** Stop writing (the stream broke); queued chunks wait for the next attach(). */
  detach(): void {
    if (this.sink && this.waitingForDrain) {
      this.sink.removeListener("drain", this.waitingForDrain);
    }
    this.waitingForDrain = undefined;
    this.sink = undefined;
  }

  /** Resolves once every queued chunk was handed to a stream or dropped. */
  idle(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drop everything queued (dispose, leave). */
  clear(): void {
    for (const item of this.pending.splice(0)) {
      item.settle(false);
      this.dropped += 1;
    }
    this.notifyIdle();
  }

  private pump(): void {
    const sink = this.sink;
    while (sink && !this.waitingForDrain && this.pending.length > 0) {
      const item = this.pending.shift()!;
      const more = sink.write(item.chunk);
      this.written += 1;
      item.settle(true);
      if (!more) {
        const resume = (): void => {
          if (this.waitingForDrain !== resume) return;
          this.waitingForDrain = undefined;
          this.pump();
        };
        this.waitingForDrain = resume;
        sink.once("drain", resume);
      }
    }
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.pending.length > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

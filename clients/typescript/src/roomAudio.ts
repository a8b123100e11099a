/**
 * The room's audio, fanned out to every open audio() iterator. Each iterator has its own
 * bounded queue, so one slow loop loses its own oldest chunks and never holds up another, nor
 * grows the client's memory.
 */
import { AsyncQueue } from "./asyncQueue";
import { InvalidArgumentError, type BridgeError } from "./errors";

/** PCM16 audio from the room (16 kHz mono from the bridge). */
export interface RoomAudio {
  pcm: Buffer;
  sampleRate: number;
  channels: number;
  timestampMs: number;
}

export interface AudioOptions {
  /**
   * Chunks held for a loop that is behind (default 200: 2 s of 10 ms packets, so for packets of
   * 10 ms and more `maxBufferedMs` is the bound that applies); the oldest go first past it.
   */
  maxBufferedChunks?: number;
  /**
   * Milliseconds of audio held for a loop that is behind (default 2 000, the bridge's own bound
   * for a slow reader); the oldest go first past it, the newest chunk is always kept.
   */
  maxBufferedMs?: number;
  /** Aborting ends the iteration, as a `break` does. */
  signal?: AbortSignal;
}

/**
 * The grpc-js call is read as fast as messages arrive (each loop has its own queue, so one slow
 * loop never holds up another), so HTTP/2 flow control never pushes back on the bridge, whose
 * outbox then drops nothing: this bound is the one a stalled loop meets.
 */
const DEFAULT_MAX_BUFFERED_MS = 2_000;

/** A chunk's length in ms of audio, from its bytes (PCM16). */
export function durationMs(audio: RoomAudio): number {
  const bytesPerMs = (2 * Math.max(1, audio.channels) * (audio.sampleRate || 16_000)) / 1000;
  return audio.pcm.length / bytesPerMs;
}

export class RoomAudioFeeds {
  /** Each open iterator, with what undoes its subscription to a signal. */
  private readonly feeds = new Map<AsyncQueue<RoomAudio>, () => void>();
  private droppedByClosed = 0;

  /** A new iterator; `ended` makes it one that is over at once (the client is disposed). */
  open(options: AudioOptions, ended: boolean): AsyncIterableIterator<RoomAudio> {
    const maxItems = options.maxBufferedChunks ?? 200;
    if (!Number.isInteger(maxItems) || maxItems < 1) {
      throw new InvalidArgumentError("maxBufferedChunks must be a positive integer");
    }
    const maxWeight = options.maxBufferedMs ?? DEFAULT_MAX_BUFFERED_MS;
    if (!(maxWeight > 0)) throw new InvalidArgumentError("maxBufferedMs must be more than 0");
    const signal = options.signal;
    const stopOnAbort = (): void => void feed.return();
    const feed = new AsyncQueue<RoomAudio>({
      maxItems,
      maxWeight,
      weight: durationMs,
      onReturn: () => this.close(feed),
    });
    if (ended || signal?.aborted) {
      feed.end();
      return feed;
    }
    signal?.addEventListener("abort", stopOnAbort, { once: true });
    this.feeds.set(feed, () => signal?.removeEventListener("abort", stopOnAbort));
    return feed;
  }

  push(audio: RoomAudio): void {
    for (const feed of this.feeds.keys()) feed.push(audio);
  }

  /** The session is over: every open loop finishes after what it holds (or throws `error`). */
  endAll(error?: BridgeError): void {
    for (const feed of [...this.feeds.keys()]) {
      this.close(feed);
      feed.end(error);
    }
  }

  /** Chunks that loops which fell behind never saw, open loops and closed ones. */
  get dropped(): number {
    let dropped = this.droppedByClosed;
    for (const feed of this.feeds.keys()) dropped += feed.dropped;
    return dropped;
  }

  private close(feed: AsyncQueue<RoomAudio>): void {
    const unsubscribe = this.feeds.get(feed);
    if (!unsubscribe) return;
    this.feeds.delete(feed);
    unsubscribe();
    this.droppedByClosed += feed.dropped;
  }
}

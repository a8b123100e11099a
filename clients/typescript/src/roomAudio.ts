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
  /** Chunks held for a loop that is behind (default 50); the oldest go first past it. */
  maxBufferedChunks?: number;
  /** Aborting ends the iteration, as a `break` does. */
  signal?: AbortSignal;
}

export class RoomAudioFeeds {
  /** Each open iterator, with what undoes its subscription to a signal. */
  private readonly feeds = new Map<AsyncQueue<RoomAudio>, () => void>();
  private droppedByClosed = 0;

  /** A new iterator; `ended` makes it one that is over at once (the client is disposed). */
  open(options: AudioOptions, ended: boolean): AsyncIterableIterator<RoomAudio> {
    const maxItems = options.maxBufferedChunks ?? 50;
    if (!Number.isInteger(maxItems) || maxItems < 1) {
      throw new InvalidArgumentError("maxBufferedChunks must be a positive integer");
    }
    const signal = options.signal;
    const stopOnAbort = (): void => void feed.return();
    const feed = new AsyncQueue<RoomAudio>({ maxItems, onReturn: () => this.close(feed) });
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

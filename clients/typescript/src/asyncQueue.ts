/**
 * A push source turned into an async iterator, bounded.
 *
 * gRPC hands us messages as events, at the sender's pace; `for await` pulls them at the
 * consumer's. In between, a consumer that falls behind must cost a bounded amount of memory:
 * past `maxItems` (or past `maxWeight`, when items differ in size: seconds of audio) the oldest
 * item goes (real-time audio goes stale) and is counted, and an item that only updates the one
 * before it (a newer play position) replaces it instead.
 */
import type { BridgeError } from "./errors";

export interface AsyncQueueOptions<T> {
  /** Items held for a consumer that is behind; older ones are dropped past it. */
  maxItems: number;
  /**
   * Also bound the sum of `weight(item)` over the held items; the newest item is always kept,
   * even alone over it. Counting items alone would let the bound, in seconds of audio, follow
   * whatever packet size the sender chose.
   */
  maxWeight?: number;
  weight?: (item: T) => number;
  /** True when `next` makes `last` (still unread) worthless: `next` then takes its place. */
  supersedes?: (last: T, next: T) => boolean;
  /** Called once when the consumer stops early (`break` out of `for await`, or return()). */
  onReturn?: () => void;
}

interface Reader<T> {
  resolve: (result: IteratorResult<T>) => void;
  reject: (error: unknown) => void;
}

export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private readonly readers: Reader<T>[] = [];
  private ending: { error: BridgeError | undefined } | undefined;
  private returned = false;
  private heldWeight = 0;
  /** Items dropped because the consumer was behind. */
  dropped = 0;

  constructor(private readonly options: AsyncQueueOptions<T>) {}

  /** True once end() or return() was called: nothing more is taken. */
  get closed(): boolean {
    return this.ending !== undefined || this.returned;
  }

  push(item: T): void {
    if (this.closed) return;
    const reader = this.readers.shift();
    if (reader) {
      reader.resolve({ value: item, done: false });
      return;
    }
    const last = this.items[this.items.length - 1];
    if (last !== undefined && this.options.supersedes?.(last, item)) {
      this.items[this.items.length - 1] = item;
      this.heldWeight += this.weightOf(item) - this.weightOf(last);
      return;
    }
    this.items.push(item);
    this.heldWeight += this.weightOf(item);
    const maxWeight = this.options.maxWeight ?? Infinity;
    while (
      this.items.length > this.options.maxItems ||
      (this.items.length > 1 && this.heldWeight > maxWeight)
    ) {
      this.heldWeight -= this.weightOf(this.items.shift()!);
      this.dropped += 1;
    }
  }

  /** No more items: the consumer reads what is buffered, then finishes (or gets `error`). */
  end(error?: BridgeError): void {
    if (this.closed) return;
    this.ending = { error };
    for (const reader of this.readers.splice(0)) this.finish(reader);
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) {
      // an empty queue holds nothing: no float rounding carried from one burst to the next
      this.heldWeight = this.items.length === 0 ? 0 : this.heldWeight - this.weightOf(item);
      return Promise.resolve({ value: item, done: false });
    }
    return new Promise((resolve, reject) => {
      const reader = { resolve, reject };
      if (this.closed) this.finish(reader);
      else this.readers.push(reader);
    });
  }

  return(): Promise<IteratorResult<T>> {
    const stoppedEarly = !this.closed;
    this.returned = true;
    if (stoppedEarly) this.options.onReturn?.();
    this.items.length = 0;
    this.heldWeight = 0;
    for (const reader of this.readers.splice(0)) reader.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private weightOf(item: T): number {
    return this.options.weight?.(item) ?? 0;
  }

  private finish(reader: Reader<T>): void {
    const error = this.returned ? undefined : this.ending?.error;
    if (error) {
      this.ending = { error: undefined }; // an error is thrown once; later reads are done
      reader.reject(error);
    } else {
      reader.resolve({ value: undefined, done: true });
    }
  }
}

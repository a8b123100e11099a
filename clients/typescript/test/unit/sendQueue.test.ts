import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import { InvalidArgumentError } from "../../src/errors";
import { AudioSendQueue } from "../../src/sendQueue";

/** A stream whose buffer holds `room` chunks before write() says false; drain() empties it. */
class FakeSink extends EventEmitter {
  readonly written: number[] = [];
  private buffered = 0;
  constructor(private readonly room: number) {
    super();
  }
  write(chunk: number): boolean {
    this.written.push(chunk);
    this.buffered += 1;
    return this.buffered < this.room;
  }
  drain(): void {
    this.buffered = 0;
    this.emit("drain");
  }
}

test("writes straight through while the stream takes more", async () => {
  const queue = new AudioSendQueue<number>(4);
  const sink = new FakeSink(100);
  queue.attach(sink);
  const results = await Promise.all([1, 2, 3].map((n) => queue.push(n)));
  assert.deepEqual(results, [true, true, true]);
  assert.deepEqual(sink.written, [1, 2, 3]);
  assert.equal(queue.written, 3);
});

test("waits for drain once write() returns false", async () => {
  const queue = new AudioSendQueue<number>(10);
  const sink = new FakeSink(2);
  queue.attach(sink);
  for (let n = 1; n <= 5; n++) void queue.push(n);
  assert.deepEqual(sink.written, [1, 2]);
  assert.equal(queue.length, 3);
  sink.drain();
  assert.deepEqual(sink.written, [1, 2, 3, 4]);
  sink.drain();
  assert.deepEqual(sink.written, [1, 2, 3, 4, 5]);
  await queue.idle();
  assert.equal(queue.dropped, 0);
});

test("a full queue drops the oldest chunk and says so", async () => {
  const queue = new AudioSendQueue<number>(2);
  const pushed = [1, 2, 3, 4].map((n) => queue.push(n)); // no stream yet
  assert.equal(queue.length, 2);
  assert.equal(queue.dropped, 2);
  const sink = new FakeSink(100);
  queue.attach(sink);
  assert.deepEqual(await Promise.all(pushed), [false, false, true, true]);
  assert.deepEqual(sink.written, [3, 4]);
});

test("detach keeps chunks for the next stream; a stale drain does not write", () => {
  const queue = new AudioSendQueue<number>(10);
  const first = new FakeSink(1);
  queue.attach(first);
  void queue.push(1);
  void queue.push(2);
  queue.detach();
  first.drain(); // the old stream's drain must not pump into nothing
  assert.deepEqual(first.written, [1]);
  const second = new FakeSink(100);
  queue.attach(second);
  assert.deepEqual(second.written, [2]);
  assert.equal(first.listenerCount("drain"), 0);
});

test("clear settles everything as dropped and wakes idle()", async () => {
  const queue = new AudioSendQueue<number>(10);
  const pushed = [queue.push(1), queue.push(2)];
  const idle = queue.idle();
  queue.clear();
  await idle;
  assert.deepEqual(await Promise.all(pushed), [false, false]);
  assert.throws(() => new AudioSendQueue<number>(0), InvalidArgumentError);
});

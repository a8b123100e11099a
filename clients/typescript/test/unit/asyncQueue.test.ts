import { strict as assert } from "node:assert";
import { test } from "node:test";
import { AsyncQueue } from "../../src/asyncQueue";
import { BridgeError } from "../../src/errors";

async function drain<T>(queue: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of queue) out.push(item);
  return out;
}

test("a waiting reader gets the item at once; a reader that is behind gets them in order", async () => {
  const queue = new AsyncQueue<number>({ maxItems: 10 });
  const first = queue.next();
  queue.push(1);
  assert.deepEqual(await first, { value: 1, done: false });
  queue.push(2);
  queue.push(3);
  queue.end();
  assert.deepEqual(await drain(queue), [2, 3]);
});

test("past maxItems the oldest go, counted", async () => {
  const queue = new AsyncQueue<number>({ maxItems: 3 });
  for (let i = 1; i <= 7; i++) queue.push(i);
  queue.end();
  assert.equal(queue.dropped, 4);
  assert.deepEqual(await drain(queue), [5, 6, 7]);
});

test("past maxWeight the oldest go, counted; the newest stays even alone over it", async () => {
  const queue = new AsyncQueue<number>({ maxItems: 100, maxWeight: 10, weight: (n) => n });
  for (const n of [4, 4, 4, 3]) queue.push(n); // 15 held: the first two go
  assert.equal(queue.dropped, 2);
  assert.deepEqual(await queue.next(), { value: 4, done: false }); // reading frees its weight
  queue.push(9);
  queue.push(25);
  queue.end();
  assert.equal(queue.dropped, 4);
  assert.deepEqual(await drain(queue), [25]);
});

test("an item that supersedes the unread last one takes its place", async () => {
  const queue = new AsyncQueue<string>({ maxItems: 10, supersedes: (last, next) => last[0] === "p" && next[0] === "p" });
  for (const item of ["start", "p1", "p2", "p3", "end"]) queue.push(item);
  queue.end();
  assert.deepEqual(await drain(queue), ["start", "p3", "end"]);
  assert.equal(queue.dropped, 0);
});

test("end(error) throws after the buffered items, once, for a reader that waits or comes later", async () => {
  const waiting = new AsyncQueue<number>({ maxItems: 10 });
  const pending = waiting.next();
  waiting.end(new BridgeError("lost"));
  await assert.rejects(pending, /lost/);
  assert.deepEqual(await waiting.next(), { value: undefined, done: true });

  const later = new AsyncQueue<number>({ maxItems: 10 });
  later.push(1);
  later.end(new BridgeError("lost"));
  later.push(2); // after the end: ignored
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const item of later) seen.push(item);
  }, BridgeError);
  assert.deepEqual(seen, [1]);
});

test("break calls onReturn once, empties the buffer, and finishes waiting readers", async () => {
  let returns = 0;
  const queue = new AsyncQueue<number>({ maxItems: 10, onReturn: () => (returns += 1) });
  queue.push(1);
  queue.push(2);
  for await (const item of queue) {
    assert.equal(item, 1);
    break;
  }
  assert.equal(returns, 1);
  assert.equal(queue.closed, true);
  queue.push(3);
  assert.deepEqual(await queue.next(), { value: undefined, done: true });
  await queue.return();
  assert.equal(returns, 1);

  const ended = new AsyncQueue<number>({ maxItems: 1, onReturn: () => (returns += 1) });
  ended.end();
  await ended.return(); // the source ended first: nothing to stop
  assert.equal(returns, 1);
});

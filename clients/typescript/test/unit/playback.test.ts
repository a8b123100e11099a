/**
 * Playback's event logic over a stand-in for the PlayAudio call (an EventEmitter with cancel()):
 * pure logic, no network. The real call is exercised in test/integration/client.test.ts.
 */
import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { ClientClosedError, InvalidStateError, PlaybackError } from "../../src/errors";
import { Playback, forwardToCallbacks, type PlayEvent, type PlayProgress } from "../../src/playback";
import type { PlayAudioEvent__Output } from "../../src/wire";

class Call extends EventEmitter {
  cancelled = 0;
  cancel(): void {
    this.cancelled += 1;
    this.status(grpc.status.CANCELLED, "Cancelled on client");
  }
  event(type: string, fields: Partial<PlayAudioEvent__Output> = {}): void {
    this.emit("data", { type, requestId: "r1", durationMs: 0, positionMs: 0, error: "", metadata: {}, ...fields });
  }
  status(code: grpc.status, details = ""): void {
    this.emit("status", { code, details, metadata: new grpc.Metadata() });
  }
}

function start(options: { signal?: AbortSignal; closed?: () => boolean } = {}) {
  const call = new Call();
  const unknown: unknown[] = [];
  let settled = 0;
  const playback = new Playback("r1", call as unknown as grpc.ClientReadableStream<PlayAudioEvent__Output>, {
    signal: options.signal,
    closed: options.closed ?? (() => false),
    onUnknownType: (type) => unknown.push(type),
    onSettled: () => (settled += 1),
  });
  return { call, playback, unknown, settled: () => settled };
}

async function events(playback: Playback): Promise<PlayEvent[]> {
  const out: PlayEvent[] = [];
  for await (const event of playback) out.push(event);
  return out;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("a loop gets STARTED, PROGRESS and COMPLETED; the promise resolves with COMPLETED", async () => {
  const { call, playback, settled } = start();
  const seen = events(playback);
  call.event("STARTED");
  await nextTurn(); // events come in their own network reads
  call.event("PROGRESS", { positionMs: 100, durationMs: 1000 });
  await nextTurn();
  call.event("PROGRESS", { positionMs: 200, durationMs: 1000 });
  await nextTurn();
  call.event("COMPLETED", { durationMs: 1000 });
  call.status(grpc.status.OK);
  assert.deepEqual(
    (await seen).map((event) => `${event.type}@${event.positionMs}`),
    ["STARTED@0", "PROGRESS@100", "PROGRESS@200", "COMPLETED@0"],
  );
  assert.deepEqual(await playback, { requestId: "r1", positionMs: 0, durationMs: 1000 });
  assert.equal(settled(), 1);
});

test("a loop that is behind sees the latest PROGRESS only", async () => {
  const { call, playback } = start();
  call.event("STARTED");
  for (let position = 100; position <= 5_000; position += 100) call.event("PROGRESS", { positionMs: position });
  call.event("COMPLETED", { durationMs: 5_000 });
  const seen = await events(playback);
  assert.deepEqual(seen.map((event) => event.type), ["STARTED", "PROGRESS", "COMPLETED"]);
  assert.equal(seen[1]!.positionMs, 5_000);
});

test("FAILED throws in the loop and rejects the promise, with the call's status code", async () => {
  const { call, playback } = start();
  const seen = events(playback);
  call.event("FAILED", { error: "unsupported URL scheme 'ftp'" });
  call.status(grpc.status.INVALID_ARGUMENT, "unsupported URL scheme 'ftp'");
  for (const outcome of [seen, playback]) {
    await assert.rejects(outcome, (error) => {
      assert.ok(error instanceof PlaybackError);
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.match(error.message, /ftp/);
      assert.equal(error.stopped, false);
      return true;
    });
  }
});

test("the outcome waits until a loop reading alongside has had every event", async () => {
  const { call, playback } = start();
  const order: string[] = [];
  const loop = (async () => {
    for await (const event of playback) order.push(event.type);
  })();
  const outcome = playback.then(() => order.push("outcome"));
  call.event("STARTED");
  call.event("PROGRESS");
  call.event("PROGRESS");
  call.event("COMPLETED");
  await Promise.all([loop, outcome]);
  assert.deepEqual(order, ["STARTED", "PROGRESS", "COMPLETED", "outcome"]);
});

test("breaking out of the loop cancels the call and ends the playback as stopped", async () => {
  const { call, playback } = start();
  call.event("STARTED");
  for await (const event of playback) {
    assert.equal(event.type, "STARTED");
    break;
  }
  assert.equal(call.cancelled, 1);
  await assert.rejects(playback, (error) => error instanceof PlaybackError && error.stopped);
});

test("stop() cancels the call; the error says stopped and why", async () => {
  const { call, playback } = start();
  playback.stop("user tapped");
  playback.stop("twice"); // ended already: nothing more
  assert.equal(call.cancelled, 1);
  await assert.rejects(playback, (error) => {
    assert.ok(error instanceof PlaybackError);
    assert.equal(error.message, "stopped: user tapped");
    assert.equal(error.stopped, true);
    assert.equal(error.code, grpc.status.CANCELLED);
    return true;
  });
});

test("an abort signal stops it, before or after the call started", async () => {
  const controller = new AbortController();
  const { call, playback } = start({ signal: controller.signal });
  controller.abort();
  assert.equal(call.cancelled, 1);
  await assert.rejects(playback, (error) => error instanceof PlaybackError && /aborted/.test(error.message));
  const early = start({ signal: AbortSignal.abort() });
  assert.equal(early.call.cancelled, 1);
  await assert.rejects(events(early.playback), (error) => error instanceof PlaybackError && error.stopped);
});

test("a second loop over one playback is refused; an unknown type is reported, not taken for FAILED", async () => {
  const { call, playback, unknown } = start();
  const first = events(playback);
  assert.throws(() => playback[Symbol.asyncIterator](), InvalidStateError);
  call.event("PAUSED");
  call.event("COMPLETED");
  assert.deepEqual((await first).map((event) => event.type), ["COMPLETED"]);
  assert.deepEqual(unknown, ["PAUSED"]);
});

test("a playback that could not start ends with that error both ways", async () => {
  const { playback } = (() => {
    const playback = new Playback("r2", new ClientClosedError(), {
      closed: () => true,
      onUnknownType: () => undefined,
      onSettled: () => undefined,
    });
    return { playback };
  })();
  await assert.rejects(playback, ClientClosedError);
  await assert.rejects(events(playback), ClientClosedError);
});

test("the deprecated callbacks ride on the events, and an iteration-only failure is no unhandled rejection", async () => {
  const { call, playback } = start();
  const started: PlayProgress[] = [];
  const progress: PlayProgress[] = [];
  const forwarded = forwardToCallbacks(
    playback,
    { onStarted: (event) => started.push(event), onProgress: (event) => progress.push(event) },
    (listener, event) => listener?.(event),
  );
  call.event("STARTED");
  call.event("PROGRESS", { positionMs: 100 });
  call.event("FAILED", { error: "404" });
  call.status(grpc.status.OK);
  await forwarded; // swallows the failure: the caller has it through the promise
  assert.deepEqual(started, [{ requestId: "r1", positionMs: 0, durationMs: 0 }]);
  assert.deepEqual(progress.map((event) => event.positionMs), [100]);
  await assert.rejects(playback, /404/);
});

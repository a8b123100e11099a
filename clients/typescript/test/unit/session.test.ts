/**
 * The session's state machine and its one guard, against a fake transport (pure logic: the
 * integration tests run the same paths against the real bridge).
 */
import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { ReconnectPolicy } from "../../src/reconnect";
import { UserSession } from "../../src/session";
import type { BridgeTransport } from "../../src/transport";

class FakeStream extends EventEmitter {
  cancelled = false;
  write(): boolean {
    return true;
  }
  end(): void {}
  cancel(): void {
    this.cancelled = true;
    setImmediate(() => this.finish(grpc.status.CANCELLED, "Cancelled on client"));
  }
  finish(code: grpc.status, details: string, trailers: Record<string, string> = {}): void {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(trailers)) metadata.set(key, value);
    this.emit("status", { code, details, metadata });
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const JOINED = { success: true, error: "", participantId: "PA_1", participantCount: 2, metadata: {} };

function setup(join: () => Promise<typeof JOINED> = async () => JOINED, delayMs = 10) {
  const streams: FakeStream[] = [];
  const calls: string[] = [];
  const events: string[] = [];
  let connected = true;
  const transport = {
    joinRoom: () => (calls.push("JoinRoom"), join()),
    leaveRoom: async () => (calls.push("LeaveRoom"), { success: true, error: "" }),
    getStatus: async () => (calls.push("GetStatus"), { connected }),
    streamAudio: () => {
      const stream = new FakeStream();
      streams.push(stream);
      return stream;
    },
  } as unknown as BridgeTransport;
  const session = new UserSession({
    userId: "u1",
    transport,
    policy: new ReconnectPolicy({ initialDelayMs: delayMs, maxDelayMs: delayMs, jitter: 0 }),
    sendQueueChunks: 10,
    callTimeoutMs: 1_000,
    joinTimeoutMs: 1_000,
    log: {},
    emit: (event, ...args) => events.push(args.length ? `${event} ${String(args[0])}` : event),
  });
  const params = { livekitUrl: "ws://127.0.0.1:1", token: "t" };
  return { session, streams, calls, events, params, setConnected: (value: boolean) => (connected = value) };
}

test("a JoinRoom that answers after leave() opens no stream", async () => {
  const answer = deferred<typeof JOINED>();
  const { session, streams, params } = setup(() => answer.promise);
  const connecting = session.connect(params);
  const leaving = session.leave("bye");
  answer.resolve(JOINED);
  await assert.rejects(connecting, /overtaken/);
  await leaving;
  assert.equal(streams.length, 0);
  assert.equal(session.state, "idle");
});

test("a stream ended with lkbridge-end-cause: replaced is superseded: no reconnect", async () => {
  const { session, streams, calls, events, params } = setup();
  await session.connect(params);
  streams[0]!.finish(grpc.status.UNAVAILABLE, "session closed: anything", { "lkbridge-end-cause": "replaced" });
  assert.equal(session.state, "idle");
  assert.ok(events.includes("superseded"), events.join(", "));
  assert.ok(!events.some((event) => event.startsWith("reconnecting")), events.join(", ")); // said at once
  assert.deepEqual(calls, ["JoinRoom"]);
});

test("the same ending without the word reconnects: GetStatus, and a stream without a rejoin", async () => {
  const { session, streams, calls, events, params } = setup();
  await session.connect(params);
  streams[0]!.finish(grpc.status.UNAVAILABLE, "session closed: replaced by a new JoinRoom");
  assert.equal(session.state, "reconnecting"); // the text alone is no signal any more
  const state = (): string => session.state;
  while (state() !== "connected") await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(calls, ["JoinRoom", "GetStatus"]);
  assert.equal(streams.length, 2);
  assert.ok(events.includes("reconnected false"), events.join(", "));
  assert.ok(!events.includes("superseded"));
});

test("an old stream's late ending changes nothing once connect() replaced it", async () => {
  const { session, streams, events, params } = setup();
  await session.connect(params);
  await session.connect(params);
  assert.equal(streams.length, 2);
  assert.ok(streams[0]!.cancelled);
  streams[0]!.finish(grpc.status.UNAVAILABLE, "late");
  assert.equal(session.state, "connected");
  assert.ok(!events.some((event) => event.startsWith("disconnected")), events.join(", "));
});

test("shutdown during the reconnect wait ends the wait at once: no timer left, no probe", async () => {
  const { session, streams, calls, params } = setup(undefined, 60_000);
  await session.connect(params);
  const timersBefore = process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;
  streams[0]!.finish(grpc.status.UNAVAILABLE, "room disconnected");
  assert.equal(session.state, "reconnecting");
  const timersWaiting = process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;
  assert.equal(timersWaiting, timersBefore + 1); // the 60 s wait
  await session.shutdown(false, "done", () => undefined);
  await new Promise((resolve) => setImmediate(resolve));
  const timersAfter = process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;
  assert.equal(timersAfter, timersBefore);
  assert.equal(session.state, "closed");
  assert.deepEqual(calls, ["JoinRoom"]);
});

/**
 * LiveKitGrpcClient against the real parts: livekit-server in the lkb namespace, the Python
 * bridge as its own `lkbridge serve` process, SDK device peers, and an HTTP server for playback.
 * Audio is judged by content (frequency, loud seconds, byte counts), never by "no exception".
 */
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as path from "node:path";
import { after, afterEach, before, describe, test as nodeTest, type TestContext } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  BridgeError,
  ClientClosedError,
  InvalidArgumentError,
  JoinError,
  LiveKitGrpcClient,
  PlaybackError,
  type LiveKitGrpcClientOptions,
  type PlayEvent,
  type PlayProgress,
} from "../../src";
import { dominantFrequency, int16, loudSeconds, tone, wavFile } from "../support/audio";
import { FileServer } from "../support/files";
import { Harness, type Heard, type Sfu } from "../support/harness";

/**
 * Each test gets 120 s, so a hung one fails with its name. (node 20 applies --test-timeout to a
 * test FILE as a whole, subprocess and teardown included: package.json's is the file's budget.
 * A 120 s one there failed this file, not a test, on a loaded machine where it ran past 120 s.)
 */
function test(name: string, fn: (t: TestContext) => Promise<void>): void {
  void nodeTest(name, { timeout: 120_000 }, fn);
}

const SFU_PORT = Number(process.env.LKBRIDGE_TS_SFU_PORT ?? 0); // 0: the harness picks a free one
const BRIDGE_PORT = Number(process.env.LKBRIDGE_TS_BRIDGE_PORT ?? 7995);
const TARGET = `127.0.0.1:${BRIDGE_PORT}`;

let harness: Harness;
let sfu: Sfu;
let files: FileServer;
const clients: LiveKitGrpcClient[] = [];

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function newClient(options: Partial<LiveKitGrpcClientOptions> = {}): LiveKitGrpcClient {
  const client = new LiveKitGrpcClient({
    userId: `user-${randomUUID().slice(0, 8)}`,
    target: TARGET,
    reconnect: { initialDelayMs: 200, maxDelayMs: 2_000, maxAttempts: 40 },
    ...options,
  });
  clients.push(client);
  return client;
}

/** A room with a device in it, and a client joined to it as the cloud joins. */
async function joinedPair(options: Partial<LiveKitGrpcClientOptions> = {}) {
  const room = `ts-${randomUUID().slice(0, 8)}`;
  const device = `device-${room}`;
  await harness.call("device_join", { room, identity: device });
  const client = newClient(options);
  const { token } = await harness.call<{ token: string }>("token", {
    room,
    identity: `cloud-agent:${client.userId}`,
  });
  const joinParams = { livekitUrl: sfu.url, token, roomName: room, targetIdentity: device };
  const joined = await client.connect(joinParams);
  return { room, device, client, joined, joinParams };
}

/** Send `pcm` in 100 ms chunks at real-time pace, awaiting each write (backpressure). */
async function streamRealtime(client: LiveKitGrpcClient, pcm: Buffer, trackId = 0, rate = 16_000) {
  const chunk = (rate / 10) * 2;
  const start = Date.now();
  for (let i = 0, n = 0; i < pcm.length; i += chunk, n++) {
    const sent = await client.sendAudio(pcm.subarray(i, i + chunk), { trackId, sampleRate: rate });
    assert.ok(sent, "a paced chunk was dropped");
    const due = start + (n + 1) * 100 - Date.now();
    if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
  }
  await client.flush();
}

/** Ask the device what it heard on `track` until `ok` says yes or `timeoutMs` passes. */
async function heardUntil(
  device: string,
  track: string,
  ok: (heard: Heard) => boolean,
  timeoutMs = 5_000,
): Promise<Heard> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const heard = await harness.call<Heard>("device_heard", { device, track });
    if (ok(heard) || Date.now() > deadline) return heard;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const near = (hz: number) => (heard: Heard) => Math.abs(heard.dominant_hz - hz) <= 10;

interface Collected {
  pcm: () => Buffer;
  bytes: () => number;
  /** How the loop ended: "done", or the error it threw. */
  ended: Promise<unknown>;
}

/** Room audio through `for await (... of client.audio())`, as the cloud reads it. */
function collectAudio(client: LiveKitGrpcClient): Collected {
  const parts: Buffer[] = [];
  let bytes = 0;
  const loop = async (): Promise<string> => {
    for await (const audio of client.audio()) {
      assert.equal(audio.sampleRate, 16_000);
      assert.equal(audio.channels, 1);
      assert.ok(audio.timestampMs > 0);
      parts.push(audio.pcm);
      bytes += audio.pcm.length;
    }
    return "done";
  };
  return { pcm: () => Buffer.concat(parts), bytes: () => bytes, ended: loop().catch((error) => error) };
}

before(async () => {
  harness = new Harness();
  sfu = await harness.call<Sfu>("sfu_start", { port: SFU_PORT });
  await harness.call("bridge_start", { port: BRIDGE_PORT });
  files = new FileServer();
  await files.start();
});

afterEach(async () => {
  // Every test's clients go with it: a client left connected would reconnect and rejoin when a
  // later test restarts the bridge, and load the machine for nothing.
  await Promise.allSettled(clients.splice(0).map((client) => client.dispose()));
});

after(async () => {
  await files?.stop();
  await harness?.close();
});

describe("audio both ways", () => {
  test("device packets reach an audio() loop: the tone, every byte, minus the headers; leave ends it", async () => {
    const { client, device, joined } = await joinedPair();
    assert.ok(joined.participantId);
    assert.ok(joined.participantCount >= 2, `participant count ${joined.participantCount}`);
    const heard = collectAudio(client);
    const sent = await harness.call<{ pcm_bytes: number }>("device_send_tone", {
      device,
      freq: 440,
      seconds: 1.5,
    });
    await waitFor(() => heard.bytes() >= sent.pcm_bytes, 5_000, "all the device's audio");
    assert.equal(heard.bytes(), sent.pcm_bytes);
    const samples = int16(heard.pcm());
    assert.ok(Math.abs(dominantFrequency(samples) - 440) <= 10);
    assert.ok(loudSeconds(samples) >= 1.4, `loud ${loudSeconds(samples)} s`);
    assert.equal(client.stats().bytesReceived, sent.pcm_bytes);
    assert.equal(client.stats().chunksDroppedReceived, 0);
    await client.leave("done");
    assert.equal(await heard.ended, "done");
  });

  test("an audio() loop that falls behind loses the oldest chunks, counted, and reads the newest", async () => {
    const { client, device } = await joinedPair();
    const slow = client.audio({ maxBufferedChunks: 3 });
    const sent = await harness.call<{ pcm_bytes: number }>("device_send_tone", {
      device,
      freq: 440,
      seconds: 1.5,
    });
    await waitFor(() => client.stats().bytesReceived >= sent.pcm_bytes, 5_000, "the device's audio");
    const { chunksReceived, chunksDroppedReceived } = client.stats();
    assert.equal(chunksDroppedReceived, chunksReceived - 3);
    const kept: Buffer[] = [];
    for (let i = 0; i < 3; i++) kept.push(((await slow.next()).value as { pcm: Buffer }).pcm);
    assert.ok(Math.abs(dominantFrequency(int16(Buffer.concat(kept))) - 440) <= 10);
    await slow.return!();
  });

  test("a loop that stalls 12 s while the device talks gets back at most about 2 s: the newest audio", async (t) => {
    const { client, device } = await joinedPair();
    const feed = client.audio();
    const first = feed.next(); // the loop is reading when the device starts...
    const older = await harness.call<{ pcm_bytes: number }>("device_send_tone", { device, freq: 440, seconds: 10 });
    const memoryBefore = process.memoryUsage();
    // the newest audio in 20 ms packets: the bound is in seconds, whatever the packet size
    const newer = await harness.call<{ pcm_bytes: number }>("device_send_tone", {
      device,
      freq: 880,
      seconds: 2.5,
      chunk_ms: 20,
    });
    const sent = older.pcm_bytes + newer.pcm_bytes;
    await waitFor(() => client.stats().bytesReceived >= sent, 10_000, "all the device's audio at the client");
    const memoryAfter = process.memoryUsage();
    const bridgeDrops = Number((await client.health()).metadata.dropped_frames);
    assert.equal((await first).done, false); // ...and stalls after that one chunk
    await client.leave("done"); // the loop then reads what it holds and finishes
    const backlog: Buffer[] = [];
    for await (const audio of feed) backlog.push(audio.pcm);
    const pcm = Buffer.concat(backlog);
    const seconds = pcm.length / 32_000;
    const stats = client.stats();
    t.diagnostic(
      `stall of ${(sent / 32_000).toFixed(1)} s: ${seconds.toFixed(2)} s back in ${backlog.length} chunks, ` +
        `${stats.chunksDroppedReceived} chunks dropped by the client, ${bridgeDrops} by the bridge; ` +
        `heap ${(memoryBefore.heapUsed / 1e6).toFixed(1)} -> ${(memoryAfter.heapUsed / 1e6).toFixed(1)} MB, ` +
        `rss ${(memoryBefore.rss / 1e6).toFixed(1)} -> ${(memoryAfter.rss / 1e6).toFixed(1)} MB`,
    );
    assert.equal(stats.bytesReceived, sent); // the client took it all: the bound is its own
    assert.equal(bridgeDrops, 0);
    assert.ok(seconds >= 1.5 && seconds <= 2.5, `${seconds} s of audio came back`);
    assert.ok(Math.abs(dominantFrequency(int16(pcm)) - 880) <= 10, "the backlog is the newest audio");
    assert.equal(stats.chunksDroppedReceived, stats.chunksReceived - 1 - backlog.length);
  });

  test("the deprecated onAudio listener still hears the device, and outlives a leave", async () => {
    const { client, device, joinParams } = await joinedPair();
    let bytes = 0;
    const stop = client.onAudio((audio) => (bytes += audio.pcm.length));
    const first = await harness.call<{ pcm_bytes: number }>("device_send_tone", {
      device,
      freq: 440,
      seconds: 0.5,
    });
    await waitFor(() => bytes >= first.pcm_bytes, 5_000, "the device's audio at onAudio");
    await client.leave("again");
    await client.connect(joinParams);
    const second = await harness.call<{ pcm_bytes: number }>("device_send_tone", {
      device,
      freq: 440,
      seconds: 0.5,
    });
    await waitFor(() => bytes >= first.pcm_bytes + second.pcm_bytes, 5_000, "audio after the rejoin");
    stop();
  });

  test("sendAudio reaches the device on the speaker track, first words included", async () => {
    const { client, device } = await joinedPair();
    await streamRealtime(client, tone(660, 2.0));
    const heard = await heardUntil(device, "speaker", (h) => near(660)(h) && h.loud_seconds >= 1.9);
    assert.ok(Math.abs(heard.dominant_hz - 660) <= 10, `heard ${heard.dominant_hz} Hz`);
    assert.ok(heard.loud_seconds >= 1.9, `only ${heard.loud_seconds} s of the first 2 s`);
  });

  test("track ids pick the room track; 48 kHz audio is resampled by the bridge", async () => {
    const { client, device } = await joinedPair();
    await streamRealtime(client, tone(550, 1.0, 48_000), 2, 48_000);
    const heard = await heardUntil(device, "tts", near(550));
    assert.ok(Math.abs(heard.dominant_hz - 550) <= 10, `heard ${heard.dominant_hz} Hz`);
  });
});

describe("playback", () => {
  test("for await gives STARTED, PROGRESS and COMPLETED in order, and the device hears the file", async () => {
    const { client, device } = await joinedPair();
    const url = files.add("tone-770.wav", wavFile(770, 1.2), "audio/wav");
    const playback = client.playAudio({ url, requestId: "req-770", trackId: 1 });
    const events: PlayEvent[] = [];
    for await (const event of playback) events.push(event);
    const types = events.map((event) => event.type);
    assert.equal(types[0], "STARTED");
    assert.equal(types.at(-1), "COMPLETED");
    assert.ok(types.filter((type) => type === "PROGRESS").length >= 2, types.join(", "));
    assert.ok(events.every((event) => event.requestId === "req-770"));
    const positions = events.filter((event) => event.type === "PROGRESS").map((event) => event.positionMs);
    assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
    const done = await playback; // the outcome, after the loop
    assert.ok(Math.abs(done.durationMs - 1200) <= 30, `duration ${done.durationMs}`);
    assert.equal(events.at(-1)!.durationMs, done.durationMs);
    const heard = await heardUntil(device, "app_audio", near(770));
    assert.ok(Math.abs(heard.dominant_hz - 770) <= 10, `heard ${heard.dominant_hz} Hz`);
  });

  test("FAILED ends a for await loop with the PlaybackError and its status code", async () => {
    const { client } = await joinedPair();
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of client.playAudio({ url: "ftp://example.com/a.mp3" })) seen.push(event.type);
      })(),
      (error) => {
        assert.ok(error instanceof PlaybackError);
        assert.match(error.message, /scheme|http/i);
        assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
        return true;
      },
    );
    assert.deepEqual(seen, []);
  });

  test("breaking out of the loop stops the playback on the bridge", async () => {
    const { client, device } = await joinedPair();
    const url = files.add("break.wav", wavFile(310, 6));
    const playback = client.playAudio({ url, requestId: "break-1" });
    for await (const event of playback) {
      if (event.type === "STARTED") break;
    }
    await assert.rejects(playback, (error) => error instanceof PlaybackError && error.stopped);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const heard = await harness.call<Heard>("device_heard", { device, track: "speaker" });
    assert.ok(heard.loud_seconds < 1.5, `the device heard ${heard.loud_seconds} s of a 6 s file`);
    assert.equal((await client.stopAudio({ requestId: "break-1" })).stoppedRequestId, "");
  });

  test("the deprecated callbacks still get STARTED and PROGRESS before the promise resolves", async () => {
    const { client, device } = await joinedPair();
    const url = files.add("tone-880.wav", wavFile(880, 1.2), "audio/wav");
    const started: PlayProgress[] = [];
    const progress: PlayProgress[] = [];
    const done = await client.playAudio({
      url: `${url}?sig=abc`,
      requestId: "req-880",
      trackId: 1,
      onStarted: (event) => started.push(event),
      onProgress: (event) => progress.push(event),
    });
    assert.equal(done.requestId, "req-880");
    assert.ok(Math.abs(done.durationMs - 1200) <= 30, `duration ${done.durationMs}`);
    assert.equal(started.length, 1);
    assert.ok(progress.length >= 2, `${progress.length} PROGRESS events`);
    const positions = progress.map((event) => event.positionMs);
    assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
    const heard = await heardUntil(device, "app_audio", near(880));
    assert.ok(Math.abs(heard.dominant_hz - 880) <= 10, `heard ${heard.dominant_hz} Hz`);
  });

  test("FAILED rejects with the bridge's reason; bad URLs get their status code", async () => {
    const { client } = await joinedPair();
    await assert.rejects(client.playAudio({ url: files.url("missing.mp3") }), (error) => {
      assert.ok(error instanceof PlaybackError);
      assert.match(error.message, /404/);
      assert.equal(error.stopped, false);
      return true;
    });
    const text = files.add("page.html", Buffer.from("<html>no audio here</html>".repeat(50)));
    await assert.rejects(client.playAudio({ url: text }), (error) => {
      assert.ok(error instanceof PlaybackError);
      assert.match(error.message, /audio/i);
      return true;
    });
    await assert.rejects(client.playAudio({ url: "ftp://example.com/a.mp3" }), (error) => {
      assert.ok(error instanceof PlaybackError);
      assert.match(error.message, /scheme|http/i);
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT); // FAILED's text, the call's code
      return true;
    });
    const stranger = newClient();
    await assert.rejects(stranger.playAudio({ url: files.url("x.wav") }), (error) => {
      assert.ok(error instanceof PlaybackError);
      assert.match(error.message, /session not found/);
      assert.equal(error.code, grpc.status.NOT_FOUND);
      return true;
    });
  });

  test("stopAudio by request id ends that playback as stopped", async () => {
    const { client } = await joinedPair();
    const url = files.add("long.wav", wavFile(330, 6));
    let started!: () => void;
    const startedPromise = new Promise<void>((resolve) => (started = resolve));
    const playing = client.playAudio({ url, requestId: "long-1", onStarted: () => started() });
    await startedPromise;
    const stop = await client.stopAudio({ requestId: "long-1", reason: "user tapped" });
    assert.deepEqual(stop, { success: true, error: "", stoppedRequestId: "long-1" });
    await assert.rejects(playing, (error) => {
      assert.ok(error instanceof PlaybackError);
      assert.equal(error.stopped, true);
      assert.match(error.message, /user tapped/);
      return true;
    });
    const nothing = await client.stopAudio();
    assert.equal(nothing.success, true);
  });

  test("an AbortSignal cancels the call and the bridge stops playing", async () => {
    const { client, device } = await joinedPair();
    const url = files.add("abort.wav", wavFile(300, 6));
    const controller = new AbortController();
    const playing = client.playAudio({
      url,
      signal: controller.signal,
      onStarted: () => controller.abort(),
    });
    await assert.rejects(playing, (error) => error instanceof PlaybackError && error.stopped);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const heard = await harness.call<Heard>("device_heard", { device, track: "speaker" });
    assert.ok(heard.loud_seconds < 1.5, `the device heard ${heard.loud_seconds} s of a 6 s file`);
  });
});

describe("status, errors, lifecycle", () => {
  test("getStatus and health report live values", async () => {
    const { client } = await joinedPair();
    const status = await client.getStatus();
    assert.equal(status.connected, true);
    assert.ok(status.participantCount >= 2);
    assert.match(status.serverVersion, /\d+\.\d+/);
    const health = await client.health();
    assert.equal(health.status, "SERVING");
    assert.ok(health.activeSessions >= 1);
    assert.ok(health.activeStreams >= 1);
  });

  test("a garbage token is a JoinError; the client stays usable", async () => {
    const client = newClient();
    await assert.rejects(
      client.connect({ livekitUrl: sfu.url, token: "not-a-jwt", roomName: "x" }),
      JoinError,
    );
    assert.equal(client.state, "idle");
    await assert.rejects(
      client.connect({ livekitUrl: "ftp://nope", token: "t" }),
      (error) => error instanceof BridgeError && error.code === grpc.status.INVALID_ARGUMENT,
    );
    assert.throws(() => new LiveKitGrpcClient({ userId: "" }), BridgeError);
    assert.throws(() => new LiveKitGrpcClient({ userId: "u", target: "nowhere" }), /host:port/);
  });

  test("sendAudio refuses nonsense before it can end the stream, and needs a session", async () => {
    const { client } = await joinedPair();
    await assert.rejects(client.sendAudio(Buffer.alloc(320), { sampleRate: 7 }), InvalidArgumentError);
    await assert.rejects(client.sendAudio(Buffer.alloc(320), { channels: 0 }), InvalidArgumentError);
    await assert.rejects(client.sendAudio(Buffer.alloc(320), { trackId: -2 }), InvalidArgumentError);
    assert.equal(await client.sendAudio(Buffer.alloc(320)), true);
    assert.equal(client.state, "connected");
    assert.equal(await newClient().sendAudio(Buffer.alloc(320)), false); // never connected
  });

  test("leave() during connect() wins: no stream opens, the session is gone", async () => {
    const room = `ts-${randomUUID().slice(0, 8)}`;
    const client = newClient();
    const { token } = await harness.call<{ token: string }>("token", {
      room,
      identity: `cloud-agent:${client.userId}`,
    });
    const connecting = client.connect({ livekitUrl: sfu.url, token, roomName: room });
    const leaving = client.leave("changed my mind");
    await assert.rejects(connecting, /overtaken/);
    await leaving;
    assert.equal(client.state, "idle");
    assert.equal((await client.getStatus()).connected, false);
    assert.equal((await client.health()).activeStreams, 0);
  });

  test("leave ends the session; dispose is idempotent and final", async () => {
    const { client } = await joinedPair();
    await client.leave("done");
    assert.equal(client.state, "idle");
    assert.equal((await client.getStatus()).connected, false);
    await Promise.all([client.dispose(), client.dispose()]);
    assert.equal(client.state, "closed");
    assert.equal(await client.sendAudio(Buffer.alloc(320)), false);
    await assert.rejects(client.getStatus(), ClientClosedError);
    await assert.rejects(client.playAudio({ url: "http://x/y.wav" }), ClientClosedError);
    await assert.rejects(async () => {
      for await (const event of client.playAudio({ url: "http://x/y.wav" })) assert.fail(event.type);
    }, ClientClosedError);
    const after: unknown[] = [];
    for await (const audio of client.audio()) after.push(audio);
    assert.deepEqual(after, []); // a disposed client's audio() is over at once
  });

  test("another client's JoinRoom for the same user supersedes this one, which does not fight back", async () => {
    const { client, joinParams, device } = await joinedPair();
    const old = collectAudio(client);
    let reconnecting = 0;
    client.on("reconnecting", () => reconnecting++);
    const superseded = once(client, "superseded");
    const rival = newClient({ userId: client.userId });
    await rival.connect(joinParams); // the bridge replaces the session; the old stream ends
    await superseded;
    assert.equal(client.state, "idle");
    const heard = collectAudio(rival);
    await harness.call("device_send_tone", { device, freq: 600, seconds: 0.5 });
    await waitFor(() => heard.bytes() > 0, 5_000, "audio at the new client");
    assert.equal(reconnecting, 0);
    assert.equal(rival.state, "connected");
    assert.equal(await old.ended, "done"); // the superseded client's audio() loop finished
  });
});

describe("reconnect", () => {
  test("after a bridge restart: GetStatus says disconnected, so it rejoins and audio flows", async () => {
    const { client, device } = await joinedPair();
    const events: string[] = [];
    client.on("disconnected", () => events.push("disconnected"));
    client.on("reconnecting", () => events.push("reconnecting"));
    client.on("reconnected", (rejoined) => events.push(`reconnected rejoined=${rejoined}`));
    const reconnected = once(client, "reconnected");
    const heard = collectAudio(client); // started before the restart, it outlives the reconnect

    await harness.call("bridge_stop", { signal: "TERM" });
    await waitFor(() => client.state === "reconnecting", 10_000, "the client to notice");
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // a few failed attempts
    await harness.call("bridge_start", { port: BRIDGE_PORT });
    const [rejoined] = (await reconnected) as [boolean];
    assert.equal(rejoined, true);
    assert.equal(events[0], "disconnected");
    assert.ok(events.includes("reconnecting"), events.join(", "));
    assert.equal((await client.getStatus()).connected, true);

    const sent = await harness.call<{ pcm_bytes: number }>("device_send_tone", {
      device,
      freq: 500,
      seconds: 1,
    });
    await waitFor(() => heard.bytes() >= sent.pcm_bytes, 5_000, "audio after the restart");
    assert.ok(Math.abs(dominantFrequency(int16(heard.pcm())) - 500) <= 10);
    await streamRealtime(client, tone(700, 1.0));
    const back = await heardUntil(device, "speaker", near(700));
    assert.ok(Math.abs(back.dominant_hz - 700) <= 10, `heard ${back.dominant_hz} Hz`);
    assert.equal(client.stats().reconnects, 1);
  });

  test("a stream that ends while the bridge keeps the session reopens without a rejoin", async () => {
    const { client } = await joinedPair();
    const reconnected = once(client, "reconnected");
    // The call ends (here by a half-close the bridge answers with OK) while the session stays
    // on the bridge: GetStatus says connected, so only the stream is reopened.
    (client as unknown as { session: { stream: grpc.ClientDuplexStream<unknown, unknown> } }).session.stream.end();
    const [rejoined] = (await reconnected) as [boolean];
    assert.equal(rejoined, false);
    assert.equal((await client.getStatus()).connected, true);
  });
});

describe("exit", () => {
  for (const leave of [true, false]) {
    test(`a disposed client lets node exit (dispose({ leave: ${leave} })): its process ends by itself`, async () => {
      const room = `ts-${randomUUID().slice(0, 8)}`;
      const device = `device-${room}`;
      await harness.call("device_join", { room, identity: device });
      const userId = `user-${randomUUID().slice(0, 8)}`;
      const { token } = await harness.call<{ token: string }>("token", { room, identity: `cloud-agent:${userId}` });
      const args = {
        target: TARGET,
        userId,
        join: { livekitUrl: sfu.url, token, roomName: room, targetIdentity: device },
        playUrl: files.add(`exit-${room}.wav`, wavFile(520, 8), "audio/wav"),
        leave,
      };
      const probe = spawn(process.execPath, [path.join(__dirname, "../support/exitProbe.js"), JSON.stringify(args)], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      probe.stdout.on("data", (data: Buffer) => (out += data.toString()));
      probe.stderr.on("data", (data: Buffer) => (out += data.toString()));
      const exited = once(probe, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
      // A bound on the wait, not a timing claim: a process that lingers is killed and fails.
      const kill = setTimeout(() => probe.kill("SIGKILL"), 60_000);
      const [code, signal] = await exited;
      clearTimeout(kill);
      assert.equal(signal, null, `the disposed client's process did not end by itself: ${out}`);
      assert.equal(code, 0, out);
      const report = JSON.parse(out.trim().split("\n").pop()!) as {
        first: string;
        playback: string;
        state: string;
        open: string[];
      };
      assert.deepEqual(report.open, [], "left open after dispose()"); // no socket, call or timer
      assert.equal(report.first, "STARTED");
      assert.equal(report.playback, "stopped: client disposed");
      assert.equal(report.state, "closed");
      const status = await newClient({ userId }).getStatus();
      assert.equal(status.connected, !leave); // leave: false keeps the session until its idle timeout
    });
  }
});

describe("auth", () => {
  test("the bearer token is sent; without it the bridge refuses", async () => {
    await harness.call("bridge_stop", { signal: "TERM" });
    await harness.call("bridge_start", { port: BRIDGE_PORT, args: ["--auth-token", "s3cret-token"] });
    try {
      const withToken = newClient({ authToken: "s3cret-token" });
      assert.equal((await withToken.getStatus()).connected, false);
      const without = newClient({ authToken: "" });
      await assert.rejects(
        without.getStatus(),
        (error) => error instanceof BridgeError && error.code === grpc.status.UNAUTHENTICATED,
      );
    } finally {
      await harness.call("bridge_stop", { signal: "TERM" });
      await harness.call("bridge_start", { port: BRIDGE_PORT });
    }
  });
});

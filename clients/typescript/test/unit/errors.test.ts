/**
 * One error tree: whatever the package throws or rejects with is a BridgeError. The client here
 * never reaches a bridge (its target is a closed port); every case is refused before a call.
 */
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import {
  AudioPacer,
  Backoff,
  BridgeError,
  ClientClosedError,
  InvalidArgumentError,
  InvalidStateError,
  LiveKitGrpcClient,
  resolveTarget,
} from "../../src";
import { AudioSendQueue } from "../../src/sendQueue";

const SRC = path.resolve(__dirname, "../../../src");

function ours(kind: new (...args: never[]) => BridgeError, pattern?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof kind, `${String(error)} is not a ${kind.name}`);
    assert.ok(error instanceof BridgeError);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

test("the sources throw and reject with the package's classes only", () => {
  const foreign = /new (Range|Type|Syntax|Reference)?Error\(/;
  for (const file of readdirSync(SRC).filter((name) => name.endsWith(".ts"))) {
    const lines = readFileSync(path.join(SRC, file), "utf8").split("\n");
    lines.forEach((line, index) => {
      assert.doesNotMatch(line, foreign, `src/${file}:${index + 1}: ${line.trim()}`);
    });
  }
});

test("refused settings are InvalidArgumentError", () => {
  assert.throws(() => new Backoff({ initialDelayMs: 0 }), ours(InvalidArgumentError, /initialDelayMs/));
  assert.throws(() => new AudioSendQueue(0), ours(InvalidArgumentError, /maxChunks/));
  assert.throws(() => new AudioPacer({ intervalMs: 0.01 }), ours(InvalidArgumentError, /intervalMs/));
  assert.throws(() => resolveTarget("nowhere", {}), ours(InvalidArgumentError, /host:port/));
  assert.throws(() => new LiveKitGrpcClient({ userId: "" }), ours(InvalidArgumentError, /userId/));
  assert.throws(
    () => new LiveKitGrpcClient({ userId: "u", target: "127.0.0.1:1", protoPath: "/nonexistent/x.proto" }),
    ours(InvalidArgumentError, /cannot load the contract/),
  );
  assert.throws(
    () => new LiveKitGrpcClient({ userId: "u", target: "127.0.0.1:1", reconnect: { multiplier: 0 } }),
    ours(InvalidArgumentError, /multiplier/),
  );
});

test("a pacer started twice is InvalidStateError", () => {
  const pacer = new AudioPacer();
  pacer.start(() => undefined);
  try {
    assert.throws(() => pacer.start(() => undefined), ours(InvalidStateError, /already running/));
  } finally {
    pacer.stop();
  }
});

test("the client refuses bad audio and bad options with InvalidArgumentError", async () => {
  const client = new LiveKitGrpcClient({ userId: "u", target: "127.0.0.1:1" });
  try {
    const pcm = Buffer.alloc(320);
    await assert.rejects(client.sendAudio(pcm, { sampleRate: 7 }), ours(InvalidArgumentError, /sampleRate 7/));
    await assert.rejects(client.sendAudio(pcm, { channels: 0 }), ours(InvalidArgumentError, /channels 0/));
    await assert.rejects(client.sendAudio(pcm, { trackId: 1.5 }), ours(InvalidArgumentError, /trackId 1.5/));
    const notAudio = "not audio" as unknown as Buffer;
    await assert.rejects(client.sendAudio(notAudio), ours(InvalidArgumentError, /pcm/));
    assert.throws(() => client.audio({ maxBufferedChunks: 0 }), ours(InvalidArgumentError, /maxBufferedChunks/));
    assert.throws(() => client.audio({ maxBufferedMs: 0 }), ours(InvalidArgumentError, /maxBufferedMs/));
  } finally {
    await client.dispose({ leave: false });
  }
});

test("after dispose every call is ClientClosedError, and iterators end", async () => {
  const client = new LiveKitGrpcClient({ userId: "u", target: "127.0.0.1:1" });
  const feed = client.audio();
  await client.dispose({ leave: false });
  assert.deepEqual(await feed.next(), { value: undefined, done: true });
  await assert.rejects(client.getStatus(), ours(ClientClosedError));
  await assert.rejects(client.connect({ livekitUrl: "ws://x", token: "t" }), ours(ClientClosedError));
  await assert.rejects(client.playAudio({ url: "http://x/y.wav" }), ours(ClientClosedError));
  assert.equal(await client.sendAudio(Buffer.alloc(2)), false);
});

/** client.audio() without a bridge: how an iterator starts and stops (audio itself: integration). */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { LiveKitGrpcClient } from "../../src";
import { durationMs } from "../../src/roomAudio";

const nextTurn = (): Promise<string> => new Promise((resolve) => setImmediate(() => resolve("pending")));

test("made while idle it waits for a session; its signal or return() ends it", async () => {
  const client = new LiveKitGrpcClient({ userId: "u", target: "127.0.0.1:1" });
  try {
    const controller = new AbortController();
    const waiting = client.audio({ signal: controller.signal });
    const first = waiting.next();
    assert.equal(await Promise.race([first, nextTurn()]), "pending");
    controller.abort();
    assert.deepEqual(await first, { value: undefined, done: true });

    const returned = client.audio();
    await returned.return!();
    assert.deepEqual(await returned.next(), { value: undefined, done: true });
    const late = client.audio({ signal: AbortSignal.abort() });
    assert.deepEqual(await late.next(), { value: undefined, done: true });
    assert.equal(client.stats().chunksDroppedReceived, 0);
  } finally {
    await client.dispose({ leave: false });
  }
});

test("a chunk's length in ms comes from its bytes, rate and channels", () => {
  const audio = (bytes: number, sampleRate: number, channels: number) => ({
    pcm: Buffer.alloc(bytes), sampleRate, channels, timestampMs: 1,
  });
  assert.equal(durationMs(audio(3_200, 16_000, 1)), 100);
  assert.equal(durationMs(audio(19_200, 48_000, 2)), 100);
  assert.equal(durationMs(audio(3_200, 0, 0)), 100); // unset fields: the bridge's 16 kHz mono
});

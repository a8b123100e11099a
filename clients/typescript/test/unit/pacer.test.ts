import { strict as assert } from "node:assert";
import { mock, test } from "node:test";
import { AudioPacer } from "../../src/pacer";

const FRAME = 3200; // 100 ms of 16 kHz mono PCM16

function bytes(count: number, fill = 1): Buffer {
  return Buffer.alloc(count, fill);
}

test("bursty input comes out in whole 100 ms frames, in order", () => {
  const pacer = new AudioPacer();
  assert.equal(pacer.frameBytes, FRAME);
  pacer.push(bytes(1000, 1));
  pacer.push(bytes(3000, 2));
  const frame = pacer.pull()!;
  assert.equal(frame.length, FRAME);
  assert.equal(frame[999], 1);
  assert.equal(frame[1000], 2);
  assert.equal(pacer.pull(), undefined); // 800 bytes left: not a whole frame
  assert.deepEqual(pacer.snapshot(), {
    framesEmitted: 1,
    droppedBytes: 0,
    underruns: 1,
    bufferedBytes: 800,
  });
});

test("the buffer is bounded: the oldest audio goes", () => {
  const pacer = new AudioPacer({ maxBufferedMs: 300 });
  for (let i = 0; i < 5; i++) pacer.push(bytes(FRAME, i));
  const stats = pacer.snapshot();
  assert.equal(stats.bufferedBytes, 3 * FRAME);
  assert.equal(stats.droppedBytes, 2 * FRAME);
  assert.equal(pacer.pull()![0], 2); // frames 0 and 1 were dropped
});

test("drops stay sample-aligned for odd pushes", () => {
  const pacer = new AudioPacer({ maxBufferedMs: 100, channels: 2 }); // 6400 bytes max
  pacer.push(bytes(6400));
  assert.equal(pacer.push(bytes(6)), 8); // 6 over, rounded up to whole 4-byte samples
});

test("silence fills underruns only when asked", () => {
  const filling = new AudioPacer({ fillSilence: true });
  assert.deepEqual(filling.pull(), Buffer.alloc(FRAME));
  assert.equal(new AudioPacer().pull(), undefined);
});

test("one frame per interval on the timer, and stop() halts it", () => {
  mock.timers.enable({ apis: ["setTimeout", "Date"] });
  try {
    const pacer = new AudioPacer({ now: () => Date.now() });
    pacer.push(bytes(FRAME * 10));
    const frames: Buffer[] = [];
    pacer.start((frame) => frames.push(frame));
    assert.throws(() => pacer.start(() => undefined), /already running/);
    for (let i = 0; i < 5; i++) mock.timers.tick(100);
    assert.equal(frames.length, 5);
    pacer.stop();
    mock.timers.tick(1000);
    const after = frames.length;
    mock.timers.tick(1000);
    assert.equal(frames.length, after);
    assert.equal(pacer.running, false);
  } finally {
    mock.timers.reset();
  }
});

test("settings that cannot work are refused", () => {
  assert.throws(() => new AudioPacer({ intervalMs: 0 }), RangeError);
  assert.throws(() => new AudioPacer({ maxBufferedMs: 50 }), RangeError);
});

import { strict as assert } from "node:assert";
import { mock, test } from "node:test";
import { InvalidArgumentError } from "../../src/errors";
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

function withMockedTime(body: () => void): void {
  mock.timers.enable({ apis: ["setTimeout", "Date"] });
  try {
    body();
  } finally {
    mock.timers.reset();
  }
}

test("one frame per interval on the timer, and stop() halts it", () => {
  withMockedTime(() => {
    const pacer = new AudioPacer({ now: () => Date.now(), maxBufferedMs: 5000 });
    pacer.push(bytes(FRAME * 20));
    const frames: Buffer[] = [];
    pacer.start((frame) => frames.push(frame));
    assert.throws(() => pacer.start(() => undefined), /already running/);
    for (let i = 0; i < 5; i++) mock.timers.tick(100);
    assert.equal(frames.length, 5);
    pacer.stop();
    mock.timers.tick(1000); // 15 frames are still buffered: none may come out
    assert.equal(frames.length, 5);
    assert.equal(pacer.running, false);
    assert.equal(pacer.snapshot().bufferedBytes, 15 * FRAME);
  });
});

test("after a stall the cadence restarts instead of bursting the missed ticks", () => {
  withMockedTime(() => {
    const pacer = new AudioPacer({ now: () => Date.now(), maxBufferedMs: 5000 });
    pacer.push(bytes(FRAME * 40));
    const at: number[] = [];
    pacer.start(() => at.push(Date.now()));
    mock.timers.tick(100);
    mock.timers.setTime(Date.now() + 1000); // the event loop was blocked for a second
    for (let i = 0; i < 5; i++) mock.timers.tick(100);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    assert.ok(gaps.slice(1).every((gap) => gap >= 100), `gaps ${gaps.join(", ")}`);
    pacer.stop();
  });
});

test("a throwing consumer does not stop the pacer; stop() + start() inside onFrame runs once", () => {
  withMockedTime(() => {
    const pacer = new AudioPacer({ now: () => Date.now(), fillSilence: true });
    const errors: unknown[] = [];
    pacer.start(
      () => {
        throw new Error("consumer bug");
      },
      (error) => errors.push(error),
    );
    mock.timers.tick(100);
    mock.timers.tick(100);
    assert.equal(errors.length, 2);
    assert.equal(pacer.running, true);
    pacer.stop();

    const restarting = new AudioPacer({ now: () => Date.now(), fillSilence: true });
    let frames = 0;
    const onFrame = (): void => {
      frames += 1;
      if (frames === 1) {
        restarting.stop();
        restarting.start(onFrame);
      }
    };
    restarting.start(onFrame);
    for (let i = 0; i < 4; i++) mock.timers.tick(100);
    assert.equal(frames, 4); // one loop: a second would have doubled the count
    restarting.stop();
  });
});

test("settings that cannot work are refused", () => {
  assert.throws(() => new AudioPacer({ intervalMs: 0 }), InvalidArgumentError);
  assert.throws(() => new AudioPacer({ maxBufferedMs: 50 }), InvalidArgumentError);
});

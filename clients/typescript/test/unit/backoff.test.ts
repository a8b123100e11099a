import { strict as assert } from "node:assert";
import { test } from "node:test";
import { Backoff } from "../../src/backoff";
import { InvalidArgumentError } from "../../src/errors";

test("delays double up to the cap", () => {
  const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 0 });
  const delays = Array.from({ length: 6 }, () => backoff.next());
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  assert.equal(backoff.attempts, 6);
  backoff.reset();
  assert.equal(backoff.next(), 100);
});

test("jitter keeps each delay within [d * (1 - jitter), d]", () => {
  const low = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 0.5 }, () => 0.999999);
  const high = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 0.5 }, () => 0);
  for (let i = 0; i < 8; i++) {
    const a = low.next();
    const b = high.next();
    assert.ok(a >= b * 0.5 - 1e-6 && a <= b, `${a} vs ceiling ${b}`);
  }
  assert.equal(high.next(), 1000);
});

test("real jitter spreads the delays", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 20; i++) seen.add(Math.round(new Backoff({ initialDelayMs: 1000 }).next()));
  assert.ok(seen.size > 10, `only ${seen.size} distinct delays`);
});

test("nonsense settings are refused", () => {
  assert.throws(() => new Backoff({ initialDelayMs: 0 }), InvalidArgumentError);
  assert.throws(() => new Backoff({ initialDelayMs: 500, maxDelayMs: 100 }), InvalidArgumentError);
  assert.throws(() => new Backoff({ multiplier: 0.5 }), InvalidArgumentError);
});

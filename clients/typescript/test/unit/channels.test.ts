/** The shared channel: one per target and options, counted, closed by the last client. */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { LiveKitGrpcClient } from "../../src";
import { acquireChannel, openChannelCount } from "../../src/channels";

// Nothing listens here: no call is made, channels connect lazily.
const TARGET = "127.0.0.1:9";

test("clients of one target share a channel; the last dispose closes it", async () => {
  const before = openChannelCount();
  const a = new LiveKitGrpcClient({ userId: "a", target: TARGET });
  const b = new LiveKitGrpcClient({ userId: "b", target: TARGET });
  assert.equal(openChannelCount(), before + 1);
  const other = new LiveKitGrpcClient({ userId: "c", target: "127.0.0.1:10" });
  assert.equal(openChannelCount(), before + 2);
  await a.dispose();
  assert.equal(openChannelCount(), before + 2); // b still holds it
  await Promise.all([b.dispose(), b.dispose(), other.dispose()]);
  assert.equal(openChannelCount(), before);
});

test("different options or credentials get their own channel; a release counts once", () => {
  const insecure = grpc.credentials.createInsecure();
  const one = acquireChannel(TARGET, insecure, { "grpc.keepalive_time_ms": 10_000 });
  const same = acquireChannel(TARGET, insecure, { "grpc.keepalive_time_ms": 10_000 });
  const options = acquireChannel(TARGET, insecure, { "grpc.keepalive_time_ms": 20_000 });
  const credentials = acquireChannel(TARGET, grpc.credentials.createInsecure(), { "grpc.keepalive_time_ms": 10_000 });
  assert.equal(one.channel, same.channel);
  assert.notEqual(one.channel, options.channel);
  assert.notEqual(one.channel, credentials.channel);
  one.release();
  one.release(); // twice from one lease must not close the channel under `same`
  assert.equal(same.channel.getConnectivityState(false), grpc.connectivityState.IDLE);
  same.release();
  assert.equal(same.channel.getConnectivityState(false), grpc.connectivityState.SHUTDOWN);
  options.release();
  credentials.release();
});

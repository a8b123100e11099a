import { strict as assert } from "node:assert";
import { test } from "node:test";
import { InvalidArgumentError } from "../../src/errors";
import { DEFAULT_TARGET, resolveTarget } from "../../src/target";

test("explicit targets win over the environment", () => {
  const env = { LIVEKIT_GRPC_BRIDGE_URL: "bridge:9090" };
  assert.equal(resolveTarget("other:1234", env), "other:1234");
  assert.equal(resolveTarget(undefined, env), "bridge:9090");
});

test("unix sockets from either variable or a bare path", () => {
  assert.equal(resolveTarget(undefined, { LIVEKIT_GRPC_SOCKET: "/run/b.sock" }), "unix:/run/b.sock");
  assert.equal(resolveTarget("unix:/run/b.sock", {}), "unix:/run/b.sock");
  assert.equal(resolveTarget("/run/b.sock", {}), "unix:/run/b.sock");
  assert.equal(
    resolveTarget(undefined, { LIVEKIT_GRPC_BRIDGE_URL: "unix:/a.sock", LIVEKIT_GRPC_SOCKET: "/b" }),
    "unix:/a.sock",
  );
});

test("defaults, schemes and IPv6", () => {
  assert.equal(resolveTarget(undefined, {}), DEFAULT_TARGET);
  assert.equal(resolveTarget("grpc://bridge:9090", {}), "bridge:9090");
  assert.equal(resolveTarget("[::1]:9090", {}), "[::1]:9090");
  assert.equal(resolveTarget("dns:///bridge:9090", {}), "dns:///bridge:9090");
});

test("malformed targets are refused with the value in the message", () => {
  assert.throws(() => resolveTarget("bridge", {}), /"bridge" is not host:port/);
  const refused = (pattern: RegExp) => (error: unknown) =>
    error instanceof InvalidArgumentError && pattern.test(error.message);
  assert.throws(() => resolveTarget("bridge:port", {}), refused(/not host:port/));
  assert.throws(() => resolveTarget("unix:", {}), refused(/no path/));
  assert.throws(() => resolveTarget("  ", {}), refused(/empty/));
});

test("an empty variable counts as not set", () => {
  const env = { LIVEKIT_GRPC_BRIDGE_URL: "", LIVEKIT_GRPC_SOCKET: "/run/b.sock" };
  assert.equal(resolveTarget(undefined, env), "unix:/run/b.sock");
  assert.equal(resolveTarget(undefined, { LIVEKIT_GRPC_BRIDGE_URL: "" }), DEFAULT_TARGET);
});

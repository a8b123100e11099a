import { strict as assert } from "node:assert";
import { test } from "node:test";
import * as protoLoader from "@grpc/proto-loader";
import { playEventType, servingStatus } from "../../src/playEvents";
import { DEFAULT_PROTO_PATH, LOADER_OPTIONS, SERVICE_NAME } from "../../src/wire";

test("names, numbers and the omitted zero all map to the right type", () => {
  assert.equal(playEventType("STARTED"), "STARTED");
  assert.equal(playEventType("PROGRESS"), "PROGRESS");
  assert.equal(playEventType("COMPLETED"), "COMPLETED");
  assert.equal(playEventType("FAILED"), "FAILED");
  assert.equal(playEventType(0), "STARTED");
  assert.equal(playEventType(1), "PROGRESS");
  assert.equal(playEventType(2), "COMPLETED");
  assert.equal(playEventType(3), "FAILED");
  assert.equal(playEventType("2"), "COMPLETED");
  assert.equal(playEventType(undefined), "STARTED");
});

test("an unknown type is not mistaken for FAILED", () => {
  assert.equal(playEventType(7), undefined);
  assert.equal(playEventType("PAUSED"), undefined);
  assert.equal(playEventType({}), undefined);
});

function playEventCodec(options: protoLoader.Options): protoLoader.MethodDefinition<object, object> {
  const definition = protoLoader.loadSync(DEFAULT_PROTO_PATH, options);
  const service = definition[SERVICE_NAME] as protoLoader.ServiceDefinition;
  return service.PlayAudio as protoLoader.MethodDefinition<object, object>;
}

test("wire bytes decode to the same type whether enums load as names or numbers", () => {
  // The cloud's client loaded enums as strings and compared them with numbers: every event
  // looked like FAILED. Encode real events, decode them both ways, and classify them.
  const asNames = playEventCodec(LOADER_OPTIONS);
  const asNumbers = playEventCodec({ ...LOADER_OPTIONS, enums: undefined });
  for (const type of ["STARTED", "PROGRESS", "COMPLETED", "FAILED"] as const) {
    const bytes = asNames.responseSerialize({ type, requestId: "r1", positionMs: 250 });
    const named = asNames.responseDeserialize(bytes) as { type: unknown; positionMs: number };
    const numbered = asNumbers.responseDeserialize(bytes) as { type: unknown };
    assert.equal(typeof named.type, "string");
    assert.equal(typeof numbered.type, "number");
    assert.equal(playEventType(named.type), type);
    assert.equal(playEventType(numbered.type), type);
    assert.equal(named.positionMs, 250); // longs load as numbers
  }
});

test("serving status names", () => {
  assert.equal(servingStatus("SERVING"), "SERVING");
  assert.equal(servingStatus(2), "NOT_SERVING");
  assert.equal(servingStatus(9), "UNKNOWN");
});

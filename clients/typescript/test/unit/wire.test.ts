/**
 * The wire types are generated from proto/ at build time (scripts/generate-wire.cjs). These tests
 * fail when src/generated/ no longer matches the repository's proto/, and when the generated
 * types describe something else than what the client's loader really decodes.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import type * as protoLoader from "@grpc/proto-loader";
import type { _mentra_livekit_bridge_HealthCheckResponse_ServingStatus__Output as GeneratedServingStatus } from "../../src/generated/mentra/livekit/bridge/HealthCheckResponse";
import type { _mentra_livekit_bridge_PlayAudioEvent_EventType__Output as GeneratedEventType } from "../../src/generated/mentra/livekit/bridge/PlayAudioEvent";
import type { PlayEventType, ServingStatus } from "../../src/playEvents";
import { DEFAULT_PROTO_PATH, SERVICE_NAME, loadDefinition } from "../../src/wire";

interface Generator {
  CONTRACT: string;
  GENERATED: string;
  generate(outDir: string): void;
  readTree(dir: string): Record<string, string>;
}

/** The package's root: dist/test/unit -> the folder with package.json. */
const PACKAGE = path.resolve(__dirname, "../../..");
const generator = require(path.join(PACKAGE, "scripts", "generate-wire.cjs")) as Generator;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// Compile-time: the names playEvents.ts works with are the contract's enum values, no more, no less.
const eventTypesMatch: Same<PlayEventType, GeneratedEventType> = true;
const servingStatusesMatch: Same<ServingStatus, GeneratedServingStatus> = true;

test("the packaged .proto is the repository's proto/livekit_bridge.proto", () => {
  assert.equal(
    readFileSync(DEFAULT_PROTO_PATH, "utf8"),
    readFileSync(generator.CONTRACT, "utf8"),
    "proto/ changed since the last build: run `npm run build`",
  );
});

test("src/generated is exactly what the generator makes of the contract now", () => {
  const fresh = mkdtempSync(path.join(tmpdir(), "lkbridge-wire-"));
  try {
    generator.generate(fresh);
    const now = generator.readTree(fresh);
    const built = generator.readTree(generator.GENERATED);
    assert.ok(Object.keys(now).length >= 15, `only ${Object.keys(now).length} files generated`);
    assert.deepEqual(Object.keys(built).sort(), Object.keys(now).sort(), "stale: run `npm run build`");
    for (const [file, text] of Object.entries(now)) {
      assert.equal(built[file], text, `src/generated/${file} is stale: run \`npm run build\``);
    }
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});

/** The fields of `interface <name>__Output` in a generated file: name -> TypeScript type text. */
function outputFields(message: string): Map<string, string> {
  const file = path.join(generator.GENERATED, "mentra", "livekit", "bridge", `${message}.ts`);
  const text = readFileSync(file, "utf8");
  const body = new RegExp(`export interface ${message}__Output \\{([^}]*(?:\\}[^}]*)?)\\n\\}`).exec(text);
  assert.ok(body, `no ${message}__Output in ${file}`);
  const fields = new Map<string, string>();
  for (const match of body[1]!.matchAll(/^\s*'(\w+)': (.+);$/gm)) fields.set(match[1]!, match[2]!);
  return fields;
}

/** The TypeScript type a decoded value must have been declared with. */
function declaredAs(value: unknown): RegExp {
  if (Buffer.isBuffer(value)) return /^\(Buffer\)$/;
  if (typeof value === "number") return /^\(number\)$/; // int32, float, and int64 (longs: Number)
  if (typeof value === "boolean") return /^\(boolean\)$/;
  if (typeof value === "string") return /^\((string|_\w+__Output)\)$/; // enums load as names
  if (value && typeof value === "object") return /^\(\{\[key: string\]: string\}\)$/;
  throw new Error(`unexpected decoded value ${String(value)}`);
}

test("every generated message type has the .proto's fields, typed as the loader decodes them", () => {
  const definition = loadDefinition();
  const service = definition[SERVICE_NAME] as protoLoader.ServiceDefinition;
  const decoded = new Map<string, Record<string, unknown>>();
  const nameOf = (message: protoLoader.MessageTypeDefinition<object, object>): string => (message.type as { name: string }).name;
  for (const method of Object.values(service)) {
    const empty = Buffer.alloc(0);
    decoded.set(nameOf(method.requestType), method.requestDeserialize(empty) as Record<string, unknown>);
    decoded.set(nameOf(method.responseType), method.responseDeserialize(empty) as Record<string, unknown>);
  }
  let messages = 0;
  for (const [fullName, entry] of Object.entries(definition)) {
    if (!("type" in entry) || !("field" in entry.type)) continue; // the service
    const message = fullName.split(".").pop()!;
    const protoFields = (entry.type.field as { name: string }[]).map((field) => field.name);
    const generated = outputFields(message);
    assert.deepEqual([...generated.keys()], protoFields, `${message}: fields`);
    const sample = decoded.get(message);
    if (sample) {
      assert.deepEqual(Object.keys(sample).sort(), [...protoFields].sort(), `${message}: decoded`);
      for (const field of protoFields) {
        assert.match(generated.get(field)!, declaredAs(sample[field]), `${message}.${field}`);
      }
    }
    messages += 1;
  }
  assert.equal(messages, 14);
  assert.ok(eventTypesMatch && servingStatusesMatch);
});

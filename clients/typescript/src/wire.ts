/**
 * The contract as this package sees it: the types generated from proto/ at build time
 * (scripts/generate-wire.cjs -> src/generated/), and the one place that loads the .proto.
 *
 * proto-loader runs with `enums: String`, `longs: Number` and `defaults: true`, the options the
 * types were generated for: every field is present, 64-bit integers are plain numbers (Unix ms
 * and durations fit easily) and enum values arrive as their names. Code that compares them with
 * numbers is the bug the cloud's client has today (every playback event looked like FAILED);
 * `playEvents.ts` accepts both forms.
 */
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { InvalidArgumentError } from "./errors";
import type { ProtoGrpcType } from "./generated/livekit_bridge";
import type {
  LiveKitBridgeClient,
  LiveKitBridgeDefinition,
} from "./generated/mentra/livekit/bridge/LiveKitBridge";

export type { LiveKitBridgeDefinition };
export type { AudioChunk, AudioChunk__Output } from "./generated/mentra/livekit/bridge/AudioChunk";
export type { BridgeStatusResponse__Output } from "./generated/mentra/livekit/bridge/BridgeStatusResponse";
export type { HealthCheckResponse__Output } from "./generated/mentra/livekit/bridge/HealthCheckResponse";
export type { PlayAudioEvent__Output } from "./generated/mentra/livekit/bridge/PlayAudioEvent";
export type { StopAudioResponse__Output } from "./generated/mentra/livekit/bridge/StopAudioResponse";

export const SERVICE_NAME = "mentra.livekit.bridge.LiveKitBridge";

/** Where the package keeps its copy of the contract (copied from the repository's proto/). */
export const DEFAULT_PROTO_PATH = path.resolve(__dirname, "../../proto/livekit_bridge.proto");

/** The generated service client. */
export type LiveKitBridgeStub = LiveKitBridgeClient;

export type MethodName = keyof LiveKitBridgeDefinition;

/** A method's request as the caller may write it (every field optional). */
export type RequestOf<M extends MethodName> =
  LiveKitBridgeDefinition[M] extends protoLoader.MethodDefinition<infer Req, infer _Res, infer _In, infer _Out>
    ? Req
    : never;

/** A method's response as the loader decodes it (every field present). */
export type ResponseOf<M extends MethodName> =
  LiveKitBridgeDefinition[M] extends protoLoader.MethodDefinition<infer _Req, infer _Res, infer _In, infer Out>
    ? Out
    : never;

type StubConstructor = ProtoGrpcType["mentra"]["livekit"]["bridge"]["LiveKitBridge"];

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

const loaded = new Map<string, StubConstructor>();

/** The package definition of the .proto, loaded with the options the types were generated for. */
export function loadDefinition(protoPath: string = DEFAULT_PROTO_PATH): protoLoader.PackageDefinition {
  try {
    return protoLoader.loadSync(protoPath, LOADER_OPTIONS);
  } catch (error) {
    throw new InvalidArgumentError(`cannot load the contract from ${protoPath}: ${String(error)}`, {
      cause: error,
    });
  }
}

/** Load (once per path) the LiveKitBridge client constructor from the .proto. */
export function loadStubConstructor(protoPath: string = DEFAULT_PROTO_PATH): StubConstructor {
  const cached = loaded.get(protoPath);
  if (cached) return cached;
  const root = grpc.loadPackageDefinition(loadDefinition(protoPath)) as unknown as Partial<ProtoGrpcType>;
  const ctor = root.mentra?.livekit?.bridge?.LiveKitBridge;
  if (!ctor) throw new InvalidArgumentError(`${protoPath} does not define ${SERVICE_NAME}`);
  loaded.set(protoPath, ctor);
  return ctor;
}

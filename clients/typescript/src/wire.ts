/**
 * The contract's messages as this package sees them, and the one place that loads the .proto.
 *
 * proto-loader runs with `enums: String`, `longs: Number` and `defaults: true`, so every field is
 * present, 64-bit integers are plain numbers (Unix ms and durations fit easily) and enum values
 * arrive as their names. Code that compares them with numbers is the bug the cloud's client has
 * today (every playback event looked like FAILED); `playEvents.ts` accepts both forms.
 */
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

export const SERVICE_NAME = "mentra.livekit.bridge.LiveKitBridge";

/** Where the package keeps its copy of the contract (copied from the repository's proto/). */
export const DEFAULT_PROTO_PATH = path.resolve(__dirname, "../../proto/livekit_bridge.proto");

export interface AudioChunkMessage {
  pcmData: Buffer;
  sampleRate: number;
  channels: number;
  timestampMs: number;
  userId: string;
  trackId: number;
}

export interface JoinRoomRequestMessage {
  userId: string;
  roomName: string;
  token: string;
  livekitUrl: string;
  targetIdentity: string;
}

export interface JoinRoomResponseMessage {
  success: boolean;
  error: string;
  participantId: string;
  participantCount: number;
  metadata: Record<string, string>;
}

export interface LeaveRoomRequestMessage {
  userId: string;
  reason: string;
}

export interface LeaveRoomResponseMessage {
  success: boolean;
  error: string;
}

export interface PlayAudioRequestMessage {
  requestId: string;
  audioUrl: string;
  volume: number;
  stopOther: boolean;
  userId: string;
  trackId: number;
}

export interface PlayAudioEventMessage {
  /** An enum name ("STARTED" ...) with `enums: String`; a number with other loader options. */
  type: string | number;
  requestId: string;
  durationMs: number;
  positionMs: number;
  error: string;
  metadata: Record<string, string>;
}

export interface StopAudioRequestMessage {
  userId: string;
  requestId: string;
  reason: string;
  trackId: number;
}

export interface StopAudioResponseMessage {
  success: boolean;
  error: string;
  stoppedRequestId: string;
}

export interface HealthCheckResponseMessage {
  status: string | number;
  activeSessions: number;
  activeStreams: number;
  uptimeSeconds: number;
  metadata: Record<string, string>;
}

export interface BridgeStatusResponseMessage {
  connected: boolean;
  participantId: string;
  participantCount: number;
  /** Unix ms of the last room disconnect; 0 = never. */
  lastDisconnectAt: number;
  lastDisconnectReason: string;
  serverVersion: string;
}

type Unary<Req, Res> = (
  request: Partial<Req>,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => grpc.ClientUnaryCall;

/** The generated service client, typed by hand over proto-loader's dynamic one. */
export interface LiveKitBridgeStub extends grpc.Client {
  StreamAudio(
    metadata: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<Partial<AudioChunkMessage>, AudioChunkMessage>;
  JoinRoom: Unary<JoinRoomRequestMessage, JoinRoomResponseMessage>;
  LeaveRoom: Unary<LeaveRoomRequestMessage, LeaveRoomResponseMessage>;
  PlayAudio(
    request: Partial<PlayAudioRequestMessage>,
    metadata: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientReadableStream<PlayAudioEventMessage>;
  StopAudio: Unary<StopAudioRequestMessage, StopAudioResponseMessage>;
  HealthCheck: Unary<{ service: string }, HealthCheckResponseMessage>;
  GetStatus: Unary<{ userId: string }, BridgeStatusResponseMessage>;
}

type StubConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => LiveKitBridgeStub;

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

const loaded = new Map<string, StubConstructor>();

/** Load (once per path) the LiveKitBridge client constructor from the .proto. */
export function loadStubConstructor(protoPath: string = DEFAULT_PROTO_PATH): StubConstructor {
  const cached = loaded.get(protoPath);
  if (cached) return cached;
  const definition = protoLoader.loadSync(protoPath, LOADER_OPTIONS);
  const root = grpc.loadPackageDefinition(definition) as unknown as {
    mentra: { livekit: { bridge: { LiveKitBridge: StubConstructor } } };
  };
  const ctor = root.mentra.livekit.bridge.LiveKitBridge;
  loaded.set(protoPath, ctor);
  return ctor;
}

/** @lkbridge/client: the cloud's side of the LiveKit gRPC bridge. */
export {
  LiveKitGrpcClient,
  type BridgeHealth,
  type BridgeStatus,
  type ClientEvents,
  type ClientState,
  type ClientStats,
  type JoinParams,
  type JoinResult,
  type LiveKitGrpcClientOptions,
  type Logger,
  type PlayRequest,
  type ReconnectOptions,
  type SendOptions,
  type StopRequest,
  type StopResult,
} from "./client";
export { AudioPacer, type PacerOptions, type PacerStats } from "./pacer";
export { Backoff, type BackoffOptions } from "./backoff";
export {
  BridgeError,
  ClientClosedError,
  InvalidArgumentError,
  InvalidStateError,
  JoinError,
  PlaybackError,
} from "./errors";
export { Playback, type PlayEvent, type PlayProgress } from "./playback";
export { type AudioOptions, type RoomAudio } from "./roomAudio";
export { playEventType, type PlayEventType, type ServingStatus } from "./playEvents";
export { resolveTarget } from "./target";
export { DEFAULT_PROTO_PATH, SERVICE_NAME } from "./wire";

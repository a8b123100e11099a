/**
 * The client's public shapes: options, requests, results, states and events. Kept apart from
 * the parts that use them (client.ts, session.ts, playbacks.ts) so each part imports only these.
 */
import type * as grpc from "@grpc/grpc-js";
import type { BridgeError } from "./errors";
import type { PlayProgress } from "./playback";
import type { ServingStatus } from "./playEvents";
import type { ReconnectOptions } from "./reconnect";
import type { BridgeStatusResponse__Output, StopAudioResponse__Output } from "./wire";

/** Pino-compatible, all optional: pass your logger or nothing. */
export interface Logger {
  debug?(fields: object, message?: string): void;
  info?(fields: object, message?: string): void;
  warn?(fields: object, message?: string): void;
  error?(fields: object, message?: string): void;
}

export interface LiveKitGrpcClientOptions {
  /** The cloud's user id: the bridge's session key. */
  userId: string;
  /** host:port or unix:/path; default from LIVEKIT_GRPC_BRIDGE_URL / LIVEKIT_GRPC_SOCKET. */
  target?: string;
  /** Sent as `authorization: Bearer ...`; default from LKBRIDGE_AUTH_TOKEN. */
  authToken?: string;
  /** Default: plaintext (a sidecar socket or a private network). */
  credentials?: grpc.ChannelCredentials;
  /** Outgoing audio chunks held while the bridge pushes back (default 50). */
  sendQueueChunks?: number;
  /** Deadline of unary calls (default 10 000 ms); JoinRoom gets joinTimeoutMs. */
  callTimeoutMs?: number;
  /** Deadline of JoinRoom (default 30 000 ms: the SFU connect itself may take seconds). */
  joinTimeoutMs?: number;
  reconnect?: ReconnectOptions;
  logger?: Logger;
  /** Extra channel options (merged over ours). */
  channelOptions?: grpc.ChannelOptions;
  /** Path of livekit_bridge.proto (default: the copy shipped with the package). */
  protoPath?: string;
}

export interface JoinParams {
  livekitUrl: string;
  token: string;
  roomName?: string;
  /** Forward only this participant's audio (default: everyone's). */
  targetIdentity?: string;
}

export interface JoinResult {
  participantId: string;
  participantCount: number;
  metadata: Record<string, string>;
}

export interface SendOptions {
  sampleRate?: number;
  channels?: number;
  /** 0 speaker (default), 1 app_audio, 2 tts, n track_n. */
  trackId?: number;
}

export interface PlayRequest {
  url: string;
  /** Default: a random id, returned in the result. */
  requestId?: string;
  /** 0 (default) is full volume; otherwise a gain. */
  volume?: number;
  /** Stop every other playback of the session first (default false: only this track's). */
  stopOther?: boolean;
  trackId?: number;
  /** @deprecated Iterate the Playback instead: `for await (const event of client.playAudio(...))`. */
  onStarted?: (event: PlayProgress) => void;
  /** @deprecated Iterate the Playback instead: `for await (const event of client.playAudio(...))`. */
  onProgress?: (event: PlayProgress) => void;
  /** Aborting cancels the call; the bridge stops the playback. */
  signal?: AbortSignal;
}

export interface StopRequest {
  /** -1 (default) stops every track; otherwise that track. Ignored when requestId is set. */
  trackId?: number;
  requestId?: string;
  reason?: string;
}

/** StopAudio's answer as the bridge sends it (`stoppedRequestId` filled when one stopped). */
export type StopResult = StopAudioResponse__Output;

/** GetStatus as the bridge sends it; `lastDisconnectAt` is Unix ms, 0 = never. */
export type BridgeStatus = BridgeStatusResponse__Output;

export interface BridgeHealth {
  status: ServingStatus;
  activeSessions: number;
  activeStreams: number;
  uptimeSeconds: number;
  metadata: Record<string, string>;
}

export type ClientState = "idle" | "connecting" | "connected" | "reconnecting" | "closed";

export interface ClientStats {
  state: ClientState;
  chunksSent: number;
  chunksDropped: number;
  chunksQueued: number;
  chunksReceived: number;
  bytesReceived: number;
  /** Room audio chunks an audio() loop that fell behind never saw. */
  chunksDroppedReceived: number;
  reconnects: number;
}

export interface ClientEvents {
  state: (state: ClientState) => void;
  /** The stream broke; a reconnect follows unless disabled. */
  disconnected: (error: BridgeError) => void;
  reconnecting: (attempt: number, delayMs: number) => void;
  /** A new stream is open; `rejoined` says whether JoinRoom had to be called again. */
  reconnected: (rejoined: boolean) => void;
  reconnectFailed: (error: BridgeError) => void;
  /** Another client took this user's session (JoinRoom or StreamAudio); this one does not fight it. */
  superseded: () => void;
}

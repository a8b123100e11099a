/**
 * LiveKitGrpcClient: one user's session on the bridge, as the cloud uses it.
 *
 * Data flows one way per direction: sendAudio() -> bounded queue -> the StreamAudio call; the
 * call's messages -> every audio() iterator, each with its own bounded queue. Everything else is
 * a unary call or, for PlayAudio, a Playback (its events as an iterator, its outcome a promise).
 * The client owns one gRPC channel, at most one StreamAudio call (a generation number makes the
 * events of a replaced call harmless) and a reconnect loop that asks GetStatus before it
 * rejoins, so a bridge that still holds the session is not made to tear it down.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { Backoff, type BackoffOptions } from "./backoff";
import {
  BridgeError,
  ClientClosedError,
  InvalidArgumentError,
  JoinError,
  asBridgeError,
  fromServiceError,
} from "./errors";
import { Playback, forwardToCallbacks, type PlayProgress } from "./playback";
import { servingStatus, type ServingStatus } from "./playEvents";
import { RoomAudioFeeds, type AudioOptions, type RoomAudio } from "./roomAudio";
import { AudioSendQueue } from "./sendQueue";
import { resolveTarget } from "./target";
import {
  loadStubConstructor,
  type AudioChunk,
  type AudioChunk__Output,
  type BridgeStatusResponse__Output,
  type LiveKitBridgeStub,
  type RequestOf,
  type ResponseOf,
  type StopAudioResponse__Output,
} from "./wire";

/** Pino-compatible, all optional: pass your logger or nothing. */
export interface Logger {
  debug?(fields: object, message?: string): void;
  info?(fields: object, message?: string): void;
  warn?(fields: object, message?: string): void;
  error?(fields: object, message?: string): void;
}

export interface ReconnectOptions extends BackoffOptions {
  /** Reconnect after a broken stream (default true). */
  enabled?: boolean;
  /** Attempts before giving up and emitting "reconnectFailed" (default 10). */
  maxAttempts?: number;
  /** A stream that lived this long resets the backoff when it breaks (default 5 000 ms). */
  stableAfterMs?: number;
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

export interface LiveKitGrpcClient {
  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  once<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  off<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  emit<E extends keyof ClientEvents>(event: E, ...args: Parameters<ClientEvents[E]>): boolean;
}

const NO_LOGGER: Logger = {};
type UnaryMethod = "JoinRoom" | "LeaveRoom" | "StopAudio" | "HealthCheck" | "GetStatus";
/** How long one reconnect attempt waits for the bridge before the next backoff step. */
const RECONNECT_PROBE_MS = 2_000;
/**
 * The trailing metadata by which the bridge says why it ended a stream, and its value for a
 * session another JoinRoom for this user replaced (lkbridge/server/session.py END_CAUSE_KEY).
 */
const END_CAUSE = "lkbridge-end-cause";
const REPLACED = "replaced";
/** Stream endings a retry cannot cure. */
const FINAL = new Set<number>([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
]);

function copyBytes(view: ArrayBufferView): Buffer {
  const copy = Buffer.allocUnsafe(view.byteLength);
  copy.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  return copy;
}
const EMPTY = Buffer.alloc(0);

export class LiveKitGrpcClient extends EventEmitter {
  readonly userId: string;
  readonly target: string;
  private readonly stub: LiveKitBridgeStub;
  private readonly authToken: string | undefined;
  private readonly callTimeoutMs: number;
  private readonly joinTimeoutMs: number;
  private readonly reconnectOptions: Required<Pick<ReconnectOptions, "enabled" | "maxAttempts" | "stableAfterMs">>;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private readonly queue: AudioSendQueue<AudioChunk>;
  private readonly audioFeeds = new RoomAudioFeeds();
  private readonly plays = new Set<Playback>();
  private currentState: ClientState = "idle";
  private joinParams: JoinParams | undefined;
  private stream: grpc.ClientDuplexStream<AudioChunk, AudioChunk__Output> | undefined;
  private streamGeneration = 0;
  private streamOpenedAt = 0;
  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private disposing: Promise<void> | undefined;
  /** Bumped by connect(), leave() and dispose(): work begun under an older epoch is stale. */
  private epoch = 0;
  /** JoinRooms run one after another, so a late one never replaces a newer session. */
  private joinChain: Promise<unknown> = Promise.resolve();
  private received = { chunks: 0, bytes: 0 };
  private reconnects = 0;

  constructor(options: LiveKitGrpcClientOptions) {
    super();
    if (!options.userId) throw new InvalidArgumentError("userId is required");
    this.userId = options.userId;
    this.target = resolveTarget(options.target);
    this.authToken = options.authToken ?? process.env.LKBRIDGE_AUTH_TOKEN ?? undefined;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.joinTimeoutMs = options.joinTimeoutMs ?? 30_000;
    const reconnect = options.reconnect ?? {};
    this.reconnectOptions = {
      enabled: reconnect.enabled ?? true,
      maxAttempts: reconnect.maxAttempts ?? 10,
      stableAfterMs: reconnect.stableAfterMs ?? 5_000,
    };
    this.backoff = new Backoff(reconnect);
    const maxDelay = reconnect.maxDelayMs ?? 10_000;
    this.log = options.logger ?? NO_LOGGER;
    this.queue = new AudioSendQueue(options.sendQueueChunks ?? 50);
    const Stub = loadStubConstructor(options.protoPath);
    this.stub = this.newStub(Stub, options.credentials ?? grpc.credentials.createInsecure(), {
      // The bridge allows a ping every 10 s; a dead peer is noticed within 15 s.
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.max_receive_message_length": 10 * 1024 * 1024,
      "grpc.max_send_message_length": 10 * 1024 * 1024,
      // Without these the channel's own backoff (up to 120 s) outlasts ours after a restart.
      "grpc.initial_reconnect_backoff_ms": Math.min(1_000, maxDelay),
      "grpc.max_reconnect_backoff_ms": maxDelay,
      ...options.channelOptions,
    });
  }

  private newStub(
    Stub: ReturnType<typeof loadStubConstructor>,
    credentials: grpc.ChannelCredentials,
    channelOptions: grpc.ChannelOptions,
  ): LiveKitBridgeStub {
    try {
      return new Stub(this.target, credentials, channelOptions);
    } catch (error) {
      throw new InvalidArgumentError(`cannot open a channel to ${this.target}: ${String(error)}`, {
        cause: error,
      });
    }
  }

  get state(): ClientState {
    return this.currentState;
  }

  // -- session -----------------------------------------------------------------------------------

  /** JoinRoom, then open StreamAudio. Calling it again rejoins (the bridge replaces the session). */
  async connect(params: JoinParams): Promise<JoinResult> {
    this.assertOpen();
    const epoch = ++this.epoch;
    this.joinParams = { ...params };
    this.setState("connecting");
    try {
      const joined = await this.join(params);
      if (epoch !== this.epoch) {
        throw new BridgeError("connect() was overtaken by leave(), dispose() or another connect()");
      }
      this.openStream();
      this.backoff.reset();
      this.setState("connected");
      return joined;
    } catch (error) {
      if (epoch === this.epoch) this.becomeIdle(asBridgeError(error, "connect"));
      throw error;
    }
  }

  /** LeaveRoom and end the stream; the client can connect() again later. */
  async leave(reason = "client left"): Promise<void> {
    this.assertOpen();
    this.epoch += 1; // a connect or reconnect under way must not open a stream after this
    this.becomeIdle(); // the stream's end is expected from here on: no reconnect
    let response;
    try {
      await this.joinChain.catch(() => undefined); // leave after a JoinRoom still under way
      response = await this.unary("LeaveRoom", { userId: this.userId, reason });
    } finally {
      this.closeStream("cancel");
    }
    if (!response.success && response.error !== "session not found") {
      throw new BridgeError(`LeaveRoom: ${response.error}`);
    }
  }

  /**
   * End everything: reconnects, playbacks, the stream, the channel. By default the session is
   * left first (`leave: false` keeps it on the bridge until its idle timeout). Safe to call twice.
   */
  dispose(options: { leave?: boolean; reason?: string } = {}): Promise<void> {
    this.disposing ??= this.shutdown(options.leave ?? true, options.reason ?? "client disposed");
    return this.disposing;
  }

  // -- audio -------------------------------------------------------------------------------------

  /**
   * Queue PCM16 audio for the room. Resolves true once gRPC took it, false when it was dropped
   * (queue full: the oldest goes first; or the client is closed). Awaiting it paces a producer
   * to the bridge; not awaiting it is safe too, memory stays bounded.
   */
  sendAudio(pcm: ArrayBufferView, options: SendOptions = {}): Promise<boolean> {
    const sampleRate = options.sampleRate ?? 16_000;
    const channels = options.channels ?? 1;
    const trackId = options.trackId ?? 0;
    // The bridge ends the whole stream on a nonsensical chunk: refuse it here instead.
    const refuse = (why: string): Promise<boolean> => Promise.reject(new InvalidArgumentError(why));
    if (!ArrayBuffer.isView(pcm)) return refuse("pcm is not a Buffer, typed array or DataView");
    if (!Number.isInteger(sampleRate) || sampleRate < 8_000 || sampleRate > 192_000) {
      return refuse(`sampleRate ${sampleRate} is not 8000-192000 Hz`);
    }
    if (!Number.isInteger(channels) || channels < 1 || channels > 8) {
      return refuse(`channels ${channels} is not 1-8`);
    }
    if (!Number.isInteger(trackId) || trackId < 0) {
      return refuse(`trackId ${trackId} is not a track number`);
    }
    if (this.currentState === "closed" || this.currentState === "idle") {
      return Promise.resolve(false); // no session: nothing would carry it
    }
    return this.queue.push({
      pcmData: copyBytes(pcm), // the caller may reuse its buffer while this one waits
      sampleRate,
      channels,
      trackId,
      timestampMs: Date.now(),
    });
  }

  /** Resolves when every queued chunk was handed to gRPC (or dropped). */
  flush(): Promise<void> {
    return this.queue.idle();
  }

  /**
   * The room's audio (PCM16 16 kHz mono from the target), from now until the session ends:
   * `for await (const audio of client.audio()) ...`. Each call is its own iterator with its own
   * bounded buffer (2 s of audio and 200 chunks by default: a loop that falls behind loses the
   * oldest chunks, counted in `stats().chunksDroppedReceived`). It survives reconnects; it finishes on leave(), dispose()
   * and when another client takes the session, and throws the BridgeError that lost the session
   * otherwise (reconnects exhausted, a stream a retry cannot cure, a failed connect()). Made
   * while idle, it waits for the next session. `break`, return() or the signal end it early.
   */
  audio(options: AudioOptions = {}): AsyncIterableIterator<RoomAudio> {
    return this.audioFeeds.open(options, this.currentState === "closed");
  }

  /**
   * Listen to the room's audio (PCM16 16 kHz mono); returns the function that stops it.
   * @deprecated Iterate `client.audio()` instead. The listener stays across sessions until the
   * returned function is called or the client is disposed.
   */
  onAudio(listener: (audio: RoomAudio) => void): () => void {
    let feed: AsyncIterableIterator<RoomAudio> | undefined;
    let stopped = false;
    const run = async (): Promise<void> => {
      while (!stopped && this.currentState !== "closed") {
        feed = this.audio();
        try {
          for await (const audio of feed) this.callback(listener, audio);
        } catch {
          // A lost session is reported by the client's events; the listener waits for the next.
        }
      }
    };
    void run();
    return () => {
      stopped = true;
      void feed?.return?.();
    };
  }

  // -- playback ----------------------------------------------------------------------------------

  /**
   * Play a URL into the room. The Playback is its events and its outcome:
   * `for await (const event of playback)` gives STARTED, PROGRESS ... and COMPLETED, and throws a
   * PlaybackError on FAILED; `await playback` resolves on COMPLETED and rejects with that
   * PlaybackError. Breaking out of the loop stops the playback, as the request's signal does.
   */
  playAudio(request: PlayRequest): Playback {
    const requestId = request.requestId || `play-${randomUUID()}`;
    const call = this.startPlayAudio(requestId, request);
    const playback = new Playback(requestId, call, {
      signal: request.signal,
      closed: () => this.currentState === "closed",
      onUnknownType: (type) => {
        this.log.warn?.({ type, requestId }, "unknown PlayAudioEvent type ignored");
      },
      onSettled: (settled) => this.plays.delete(settled),
    });
    if (!playback.finished) this.plays.add(playback);
    if (request.onStarted || request.onProgress) {
      void forwardToCallbacks(playback, request, (listener, event) => this.callback(listener, event));
    }
    return playback;
  }

  /** The call, or why there is none. */
  private startPlayAudio(
    requestId: string,
    request: PlayRequest,
  ): grpc.ClientReadableStream<ResponseOf<"PlayAudio">> | BridgeError {
    if (this.currentState === "closed") return new ClientClosedError();
    try {
      return this.stub.PlayAudio(
        {
          requestId,
          audioUrl: request.url,
          volume: request.volume ?? 0,
          stopOther: request.stopOther ?? false,
          userId: this.userId,
          trackId: request.trackId ?? 0,
        },
        this.metadata(),
      );
    } catch (error) {
      return asBridgeError(error, "PlayAudio");
    }
  }

  /** StopAudio: every track by default, one track, or one request. */
  async stopAudio(request: StopRequest = {}): Promise<StopResult> {
    this.assertOpen();
    return this.unary("StopAudio", {
      userId: this.userId,
      requestId: request.requestId ?? "",
      reason: request.reason ?? "",
      trackId: request.trackId ?? -1,
    });
  }

  // -- status ------------------------------------------------------------------------------------

  async getStatus(): Promise<BridgeStatus> {
    this.assertOpen();
    return this.unary("GetStatus", { userId: this.userId });
  }

  async health(): Promise<BridgeHealth> {
    this.assertOpen();
    const response = await this.unary("HealthCheck", { service: "" });
    return { ...response, status: servingStatus(response.status) };
  }

  stats(): ClientStats {
    return {
      state: this.currentState,
      chunksSent: this.queue.written,
      chunksDropped: this.queue.dropped,
      chunksQueued: this.queue.length,
      chunksReceived: this.received.chunks,
      chunksDroppedReceived: this.audioFeeds.dropped,
      bytesReceived: this.received.bytes,
      reconnects: this.reconnects,
    };
  }

  // -- internals ---------------------------------------------------------------------------------

  private join(params: JoinParams): Promise<JoinResult> {
    const run = this.joinChain.catch(() => undefined).then(() => this.joinNow(params));
    this.joinChain = run;
    return run;
  }

  private async joinNow(params: JoinParams): Promise<JoinResult> {
    const response = await this.unary(
      "JoinRoom",
      {
        userId: this.userId,
        roomName: params.roomName ?? "",
        token: params.token,
        livekitUrl: params.livekitUrl,
        targetIdentity: params.targetIdentity ?? "",
      },
      this.joinTimeoutMs,
    );
    if (!response.success) throw new JoinError(`JoinRoom: ${response.error || "failed"}`);
    return {
      participantId: response.participantId,
      participantCount: response.participantCount,
      metadata: response.metadata,
    };
  }

  private openStream(): void {
    this.closeStream("cancel");
    const generation = ++this.streamGeneration;
    const stream = this.stub.StreamAudio(this.metadata());
    this.stream = stream;
    this.streamOpenedAt = performance.now();
    stream.write({ userId: this.userId, pcmData: EMPTY }); // the bridge binds the call by it
    stream.on("data", (chunk: AudioChunk__Output) => {
      this.received.chunks += 1;
      this.received.bytes += chunk.pcmData.length;
      const audio: RoomAudio = {
        pcm: chunk.pcmData,
        sampleRate: chunk.sampleRate,
        channels: chunk.channels,
        timestampMs: chunk.timestampMs,
      };
      this.audioFeeds.push(audio);
    });
    stream.on("error", () => undefined); // reported through "status", which always follows
    stream.on("status", (status: grpc.StatusObject) => this.streamEnded(generation, status));
    this.queue.attach(stream);
  }

  private closeStream(how: "cancel" | "end"): void {
    const stream = this.stream;
    if (!stream) return;
    this.streamGeneration += 1; // its last events are now stale
    this.stream = undefined;
    this.queue.detach();
    if (how === "end") stream.end();
    else stream.cancel();
  }

  private streamEnded(generation: number, status: grpc.StatusObject): void {
    if (generation !== this.streamGeneration) return;
    this.stream = undefined;
    this.queue.detach();
    const error = new BridgeError(
      `StreamAudio ended: ${grpc.status[status.code]} ${status.details}`.trim(),
      status.code,
    );
    this.log.warn?.({ code: status.code, details: status.details }, "StreamAudio ended");
    if (this.currentState !== "connected") return; // left, disposed, or being replaced
    this.emit("disconnected", error);
    const replaced = status.metadata?.get(END_CAUSE).includes(REPLACED) ?? false;
    if (status.code === grpc.status.ABORTED || replaced) {
      this.becomeIdle();
      this.emit("superseded");
      return;
    }
    if (!this.reconnectOptions.enabled || !this.joinParams || FINAL.has(status.code)) {
      this.becomeIdle(error); // retrying a refused chunk or a wrong token would fail the same way
      return;
    }
    if (performance.now() - this.streamOpenedAt >= this.reconnectOptions.stableAfterMs) {
      this.backoff.reset();
    }
    this.setState("reconnecting");
    void this.reconnect(error);
  }

  private async reconnect(cause: BridgeError): Promise<void> {
    let lastError = cause;
    const epoch = this.epoch;
    const current = (): boolean => this.currentState === "reconnecting" && epoch === this.epoch;
    while (current()) {
      if (this.backoff.attempts >= this.reconnectOptions.maxAttempts) {
        this.backoff.reset(); // a later connect() starts afresh
        this.becomeIdle(lastError);
        this.emit("reconnectFailed", lastError);
        return;
      }
      const delay = this.backoff.next();
      this.emit("reconnecting", this.backoff.attempts, delay);
      await this.sleep(delay);
      if (!current()) return;
      try {
        const status = await this.unary("GetStatus", { userId: this.userId }, RECONNECT_PROBE_MS);
        if (!current()) return; // left, disposed or reconnected by hand meanwhile
        const rejoin = !status.connected;
        if (rejoin) await this.join(this.joinParams!);
        if (!current()) return; // leave() and connect() queue their calls after this join
        this.openStream();
        this.reconnects += 1;
        this.setState("connected");
        this.log.info?.({ rejoin, attempt: this.backoff.attempts }, "reconnected to the bridge");
        this.emit("reconnected", rejoin);
        return;
      } catch (error) {
        lastError = asBridgeError(error, "reconnect");
        this.log.warn?.({ error: lastError.message }, "reconnect attempt failed");
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleeping = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleeping = { timer, wake };
    });
  }

  private async shutdown(leave: boolean, reason: string): Promise<void> {
    const hadSession = this.joinParams !== undefined && this.currentState !== "idle";
    this.epoch += 1;
    this.setState("closed");
    this.sleeping?.wake();
    this.queue.clear();
    for (const playback of this.plays) playback.stop("client disposed");
    this.audioFeeds.endAll();
    if (leave && hadSession) {
      try {
        await this.joinChain.catch(() => undefined); // a JoinRoom under way comes first
        await this.unary("LeaveRoom", { userId: this.userId, reason }, 3_000);
      } catch (error) {
        this.log.warn?.({ error: String(error) }, "LeaveRoom on dispose failed");
      }
    }
    this.closeStream(leave ? "cancel" : "end");
    this.stub.close();
  }

  private unary<M extends UnaryMethod>(
    method: M,
    request: RequestOf<M>,
    timeoutMs = this.callTimeoutMs,
  ): Promise<ResponseOf<M>> {
    return new Promise<ResponseOf<M>>((resolve, reject) => {
      const invoke = this.stub[method].bind(this.stub) as unknown as (
        request: RequestOf<M>,
        metadata: grpc.Metadata,
        options: grpc.CallOptions,
        callback: (error: grpc.ServiceError | null, response?: ResponseOf<M>) => void,
      ) => grpc.ClientUnaryCall;
      // waitForReady: a bridge that is restarting gets until the deadline to come back, rather
      // than failing the call at once while the channel is between connection attempts.
      const options = { deadline: Date.now() + timeoutMs };
      try {
        invoke(request, this.metadata(true), options, (error, response) => {
          if (error) reject(fromServiceError(error, method));
          else resolve(response!);
        });
      } catch (error) {
        reject(asBridgeError(error, method));
      }
    });
  }

  private metadata(waitForReady = false): grpc.Metadata {
    const metadata = new grpc.Metadata({ waitForReady });
    if (this.authToken) metadata.set("authorization", `Bearer ${this.authToken}`);
    return metadata;
  }

  private callback<T>(listener: ((value: T) => void) | undefined, value: T): void {
    if (!listener) return;
    try {
      listener(value);
    } catch (error) {
      this.log.error?.({ error: String(error) }, "a listener threw; ignored");
    }
  }

  /**
   * No session from here on: audio waiting for one would only go stale, and audio() loops end,
   * with `error` when the session was lost rather than left.
   */
  private becomeIdle(error?: BridgeError): void {
    this.setState("idle");
    this.queue.clear();
    this.audioFeeds.endAll(error);
  }

  private setState(state: ClientState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.emit("state", state);
  }

  private assertOpen(): void {
    if (this.currentState === "closed") throw new ClientClosedError();
  }
}

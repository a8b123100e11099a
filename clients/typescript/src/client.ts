/**
 * LiveKitGrpcClient: one user's session on the bridge, as the cloud uses it. The class is the
 * public face; the work is in parts, each one concept:
 *
 * - transport.ts: the bridge's calls, typed from the contract, over a channel shared by every
 *   client of the same target (channels.ts: counted, closed by the last one to let go);
 * - session.ts: the session's state machine (connect, stream, reconnect, leave, shutdown),
 *   with one guard that makes late work harmless;
 * - reconnect.ts: the reconnect policy (which endings are retried, backoff, attempts);
 * - outgoing.ts: what sendAudio() accepts; playbacks.ts: PlayAudio calls made into Playbacks.
 */
import { EventEmitter } from "node:events";
import { ClientClosedError, InvalidArgumentError } from "./errors";
import { INSECURE } from "./channels";
import { sendFormat } from "./outgoing";
import type { Playback } from "./playback";
import { Playbacks } from "./playbacks";
import { servingStatus } from "./playEvents";
import { ReconnectPolicy } from "./reconnect";
import type { AudioOptions, RoomAudio } from "./roomAudio";
import { UserSession } from "./session";
import { resolveTarget } from "./target";
import { BridgeTransport } from "./transport";
import type {
  BridgeHealth,
  BridgeStatus,
  ClientEvents,
  ClientState,
  ClientStats,
  JoinParams,
  JoinResult,
  LiveKitGrpcClientOptions,
  Logger,
  PlayRequest,
  SendOptions,
  StopRequest,
  StopResult,
} from "./types";

export type { ReconnectOptions } from "./reconnect";
export type {
  BridgeHealth,
  BridgeStatus,
  ClientEvents,
  ClientState,
  ClientStats,
  JoinParams,
  JoinResult,
  LiveKitGrpcClientOptions,
  Logger,
  PlayRequest,
  SendOptions,
  StopRequest,
  StopResult,
} from "./types";

export interface LiveKitGrpcClient {
  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  once<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  off<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  emit<E extends keyof ClientEvents>(event: E, ...args: Parameters<ClientEvents[E]>): boolean;
}

const NO_LOGGER: Logger = {};

export class LiveKitGrpcClient extends EventEmitter {
  readonly userId: string;
  readonly target: string;
  private readonly callTimeoutMs: number;
  private readonly log: Logger;
  private readonly transport: BridgeTransport;
  private readonly session: UserSession;
  private readonly playbacks: Playbacks;
  private disposing: Promise<void> | undefined;

  constructor(options: LiveKitGrpcClientOptions) {
    super();
    if (!options.userId) throw new InvalidArgumentError("userId is required");
    this.userId = options.userId;
    this.target = resolveTarget(options.target);
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.log = options.logger ?? NO_LOGGER;
    const policy = new ReconnectPolicy(options.reconnect);
    this.transport = new BridgeTransport({
      target: this.target,
      credentials: options.credentials ?? INSECURE,
      authToken: options.authToken ?? process.env.LKBRIDGE_AUTH_TOKEN ?? undefined,
      protoPath: options.protoPath,
      channelOptions: {
        // The bridge allows a ping every 10 s; a dead peer is noticed within 15 s.
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.max_receive_message_length": 10 * 1024 * 1024,
        "grpc.max_send_message_length": 10 * 1024 * 1024,
        // Without these the channel's own backoff (up to 120 s) outlasts ours after a restart.
        "grpc.initial_reconnect_backoff_ms": Math.min(1_000, policy.maxDelayMs),
        "grpc.max_reconnect_backoff_ms": policy.maxDelayMs,
        ...options.channelOptions,
      },
    });
    this.session = new UserSession({
      userId: this.userId,
      transport: this.transport,
      policy,
      sendQueueChunks: options.sendQueueChunks ?? 50,
      callTimeoutMs: this.callTimeoutMs,
      joinTimeoutMs: options.joinTimeoutMs ?? 30_000,
      log: this.log,
      emit: (event, ...args) => void this.emit(event, ...args),
    });
    this.playbacks = new Playbacks({
      userId: this.userId,
      transport: this.transport,
      log: this.log,
      closed: () => this.state === "closed",
      callback: (listener, value) => this.callback(listener, value),
    });
  }

  get state(): ClientState {
    return this.session.state;
  }

  // -- session -----------------------------------------------------------------------------------

  /** JoinRoom, then open StreamAudio. Calling it again rejoins (the bridge replaces the session). */
  async connect(params: JoinParams): Promise<JoinResult> {
    this.assertOpen();
    return this.session.connect(params);
  }

  /** LeaveRoom and end the stream; the client can connect() again later. */
  async leave(reason = "client left"): Promise<void> {
    this.assertOpen();
    return this.session.leave(reason);
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
    const format = sendFormat(pcm, options);
    if (format instanceof InvalidArgumentError) return Promise.reject(format);
    return this.session.send(pcm, format);
  }

  /** Resolves when every queued chunk was handed to gRPC (or dropped). */
  flush(): Promise<void> {
    return this.session.queue.idle();
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
    return this.session.audioFeeds.open(options, this.state === "closed");
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
      while (!stopped && this.state !== "closed") {
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
    return this.playbacks.start(request);
  }

  /** StopAudio: every track by default, one track, or one request. */
  async stopAudio(request: StopRequest = {}): Promise<StopResult> {
    this.assertOpen();
    return this.transport.stopAudio(
      {
        userId: this.userId,
        requestId: request.requestId ?? "",
        reason: request.reason ?? "",
        trackId: request.trackId ?? -1,
      },
      this.callTimeoutMs,
    );
  }

  // -- status ------------------------------------------------------------------------------------

  async getStatus(): Promise<BridgeStatus> {
    this.assertOpen();
    return this.transport.getStatus({ userId: this.userId }, this.callTimeoutMs);
  }

  async health(): Promise<BridgeHealth> {
    this.assertOpen();
    const response = await this.transport.healthCheck({ service: "" }, this.callTimeoutMs);
    return { ...response, status: servingStatus(response.status) };
  }

  stats(): ClientStats {
    const { queue, received, audioFeeds, reconnects } = this.session;
    return {
      state: this.state,
      chunksSent: queue.written,
      chunksDropped: queue.dropped,
      chunksQueued: queue.length,
      chunksReceived: received.chunks,
      chunksDroppedReceived: audioFeeds.dropped,
      bytesReceived: received.bytes,
      reconnects,
    };
  }

  // -- internals ---------------------------------------------------------------------------------

  private async shutdown(leave: boolean, reason: string): Promise<void> {
    try {
      await this.session.shutdown(leave, reason, () => this.playbacks.stopAll("client disposed"));
    } finally {
      this.transport.close(); // the shared channel closes with its last client
    }
  }

  private callback<T>(listener: ((value: T) => void) | undefined, value: T): void {
    if (!listener) return;
    try {
      listener(value);
    } catch (error) {
      this.log.error?.({ error: String(error) }, "a listener threw; ignored");
    }
  }

  private assertOpen(): void {
    if (this.state === "closed") throw new ClientClosedError();
  }
}

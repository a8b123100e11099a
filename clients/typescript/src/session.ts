/**
 * One user's session on the bridge as a state machine:
 *
 *   idle -connect()-> connecting -> connected -stream broke-> reconnecting -> connected ...
 *   any -leave(), lost, superseded-> idle;  any -shutdown()-> closed (final)
 *
 * One guard keeps late work harmless: the turn. Every change of course (connect, leave,
 * shutdown, a reconnect begun) aborts the current turn and starts the next; a stream belongs to
 * the turn that opened it, and a join, a status probe, a reconnect wait or a stream's ending
 * that finishes under an aborted turn changes nothing. Aborting also wakes the reconnect wait,
 * so no timer outlives its turn.
 *
 * Data flows one way per direction: send() -> bounded queue -> the StreamAudio call; the call's
 * messages -> the room audio feeds. JoinRoom and LeaveRoom run one after another (the order
 * below), so a late JoinRoom never replaces a newer session on the bridge.
 */
import * as grpc from "@grpc/grpc-js";
import { BridgeError, JoinError, asBridgeError } from "./errors";
import { outgoingChunk, type SendFormat } from "./outgoing";
import { RECONNECT_PROBE_MS, ReconnectPolicy, pause } from "./reconnect";
import { RoomAudioFeeds, type RoomAudio } from "./roomAudio";
import { AudioSendQueue } from "./sendQueue";
import type { BridgeTransport } from "./transport";
import type { ClientEvents, ClientState, JoinParams, JoinResult, Logger } from "./types";
import type { AudioChunk, AudioChunk__Output } from "./wire";

/**
 * The trailing metadata by which the bridge says why it ended a stream, and its value for a
 * session another JoinRoom for this user replaced (lkbridge/server/session/session.py END_CAUSE_KEY).
 */
const END_CAUSE = "lkbridge-end-cause";
const REPLACED = "replaced";
const EMPTY = Buffer.alloc(0);

export interface SessionOptions {
  userId: string;
  transport: BridgeTransport;
  policy: ReconnectPolicy;
  sendQueueChunks: number;
  callTimeoutMs: number;
  joinTimeoutMs: number;
  log: Logger;
  emit: <E extends keyof ClientEvents>(event: E, ...args: Parameters<ClientEvents[E]>) => void;
}

type AudioStream = grpc.ClientDuplexStream<AudioChunk, AudioChunk__Output>;

/** Calls that must reach the bridge in the order they were made. */
class CallOrder {
  private last: Promise<unknown> = Promise.resolve();

  run<T>(call: () => Promise<T>): Promise<T> {
    const next = this.last.catch(() => undefined).then(call);
    this.last = next;
    return next;
  }

  /** Resolves once every call made so far has settled. */
  settled(): Promise<void> {
    return this.last.then(
      () => undefined,
      () => undefined,
    );
  }
}

export class UserSession {
  readonly queue: AudioSendQueue<AudioChunk>;
  readonly audioFeeds = new RoomAudioFeeds();
  readonly received = { chunks: 0, bytes: 0 };
  reconnects = 0;
  private currentState: ClientState = "idle";
  private turn = new AbortController();
  private joinParams: JoinParams | undefined;
  private stream: AudioStream | undefined;
  private streamOpenedAt = 0;
  private readonly joins = new CallOrder();

  constructor(private readonly options: SessionOptions) {
    this.queue = new AudioSendQueue(options.sendQueueChunks);
  }

  get state(): ClientState {
    return this.currentState;
  }

  /** JoinRoom, then open StreamAudio; a second call rejoins (the bridge replaces the session). */
  async connect(params: JoinParams): Promise<JoinResult> {
    const turn = this.begin();
    this.joinParams = { ...params };
    this.setState("connecting");
    try {
      const joined = await this.join(params);
      if (turn.aborted) {
        throw new BridgeError("connect() was overtaken by leave(), dispose() or another connect()");
      }
      this.openStream(turn);
      this.options.policy.reset();
      this.setState("connected");
      return joined;
    } catch (error) {
      if (!turn.aborted) this.becomeIdle(asBridgeError(error, "connect"));
      throw error;
    }
  }

  /** LeaveRoom and end the stream; connect() may follow later. */
  async leave(reason: string): Promise<void> {
    this.begin(); // a connect or reconnect under way must not open a stream after this
    this.becomeIdle(); // the stream's end is expected from here on: no reconnect
    let response;
    try {
      await this.joins.settled(); // leave after a JoinRoom still under way
      response = await this.options.transport.leaveRoom(
        { userId: this.options.userId, reason },
        this.options.callTimeoutMs,
      );
    } finally {
      this.closeStream("cancel");
    }
    if (!response.success && response.error !== "session not found") {
      throw new BridgeError(`LeaveRoom: ${response.error}`);
    }
  }

  /**
   * The end: no more turns, audio loops finish, the session is left (`leave`) or kept.
   * `closing` runs once the state is "closed" (the client stops its playbacks there).
   */
  async shutdown(leave: boolean, reason: string, closing: () => void): Promise<void> {
    const hadSession = this.joinParams !== undefined && this.currentState !== "idle";
    this.begin();
    this.setState("closed");
    this.queue.clear();
    closing();
    this.audioFeeds.endAll();
    if (leave && hadSession) {
      try {
        await this.joins.settled(); // a JoinRoom under way comes first
        await this.options.transport.leaveRoom({ userId: this.options.userId, reason }, 3_000);
      } catch (error) {
        this.options.log.warn?.({ error: String(error) }, "LeaveRoom on dispose failed");
      }
    }
    this.closeStream(leave ? "cancel" : "end");
  }

  /** Queue audio for the stream; false at once when there is no session to carry it. */
  send(pcm: ArrayBufferView, format: SendFormat): Promise<boolean> {
    if (this.currentState === "closed" || this.currentState === "idle") return Promise.resolve(false);
    return this.queue.push(outgoingChunk(pcm, format));
  }

  // -- internals ---------------------------------------------------------------------------------

  /** Abort the current turn (its work goes stale, its reconnect wait wakes) and start the next. */
  private begin(): AbortSignal {
    this.turn.abort();
    this.turn = new AbortController();
    return this.turn.signal;
  }

  private join(params: JoinParams): Promise<JoinResult> {
    return this.joins.run(() => this.joinNow(params));
  }

  private async joinNow(params: JoinParams): Promise<JoinResult> {
    const response = await this.options.transport.joinRoom(
      {
        userId: this.options.userId,
        roomName: params.roomName ?? "",
        token: params.token,
        livekitUrl: params.livekitUrl,
        targetIdentity: params.targetIdentity ?? "",
      },
      this.options.joinTimeoutMs,
    );
    if (!response.success) throw new JoinError(`JoinRoom: ${response.error || "failed"}`);
    return {
      participantId: response.participantId,
      participantCount: response.participantCount,
      metadata: response.metadata,
    };
  }

  private openStream(turn: AbortSignal): void {
    this.closeStream("cancel");
    const stream = this.options.transport.streamAudio();
    this.stream = stream;
    this.streamOpenedAt = performance.now();
    stream.write({ userId: this.options.userId, pcmData: EMPTY }); // the bridge binds the call by it
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
    stream.on("status", (status: grpc.StatusObject) => this.streamEnded(turn, stream, status));
    this.queue.attach(stream);
  }

  private closeStream(how: "cancel" | "end"): void {
    const stream = this.stream;
    if (!stream) return;
    this.stream = undefined; // its last events are now of no concern
    this.queue.detach();
    if (how === "end") stream.end();
    else stream.cancel();
  }

  private streamEnded(turn: AbortSignal, stream: AudioStream, status: grpc.StatusObject): void {
    if (stream !== this.stream) return; // closed by us: expected
    this.stream = undefined;
    this.queue.detach();
    const error = new BridgeError(
      `StreamAudio ended: ${grpc.status[status.code]} ${status.details}`.trim(),
      status.code,
    );
    this.options.log.warn?.({ code: status.code, details: status.details }, "StreamAudio ended");
    if (turn.aborted) return; // left, disposed, or being replaced
    const { emit, policy } = this.options;
    emit("disconnected", error);
    const replaced = status.metadata?.get(END_CAUSE).includes(REPLACED) ?? false;
    if (status.code === grpc.status.ABORTED || replaced) {
      this.becomeIdle();
      emit("superseded");
      return;
    }
    if (!this.joinParams || !policy.retries(status.code)) {
      this.becomeIdle(error); // retrying a refused chunk or a wrong token would fail the same way
      return;
    }
    policy.streamBroke(performance.now() - this.streamOpenedAt);
    const retry = this.begin();
    this.setState("reconnecting");
    void this.reconnect(retry, error);
  }

  /** Ask GetStatus before rejoining: a bridge that still holds the session keeps it. */
  private async reconnect(turn: AbortSignal, cause: BridgeError): Promise<void> {
    const { emit, policy, log, transport, userId } = this.options;
    let lastError = cause;
    while (!turn.aborted) {
      const delay = policy.nextDelay();
      if (delay === undefined) {
        this.becomeIdle(lastError);
        emit("reconnectFailed", lastError);
        return;
      }
      emit("reconnecting", policy.attempts, delay);
      await pause(delay, turn);
      if (turn.aborted) return;
      try {
        const status = await transport.getStatus({ userId }, RECONNECT_PROBE_MS);
        if (turn.aborted) return; // left, disposed or reconnected by hand meanwhile
        const rejoin = !status.connected;
        if (rejoin) await this.join(this.joinParams!);
        if (turn.aborted) return; // leave() and connect() queue their calls after this join
        this.openStream(turn);
        this.reconnects += 1;
        this.setState("connected");
        log.info?.({ rejoin, attempt: policy.attempts }, "reconnected to the bridge");
        emit("reconnected", rejoin);
        return;
      } catch (error) {
        lastError = asBridgeError(error, "reconnect");
        log.warn?.({ error: lastError.message }, "reconnect attempt failed");
      }
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
    this.options.emit("state", state);
  }
}

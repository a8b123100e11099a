/**
 * The bridge's calls, typed from the contract: each method's request and response types come
 * from the generated service definition, so no call goes through a cast. Every call carries
 * the bearer token; unary calls wait for a restarting bridge until their deadline
 * (waitForReady) instead of failing while the channel is between connection attempts.
 */
import * as grpc from "@grpc/grpc-js";
import { acquireChannel, type ChannelLease } from "./channels";
import { asBridgeError, fromServiceError } from "./errors";
import { loadStubConstructor, type LiveKitBridgeDefinition, type RequestOf, type ResponseOf } from "./wire";

/** The part of a method's definition a call needs: its path and its (de)serializers. */
interface UnaryDefinition<Req, Res> {
  path: string;
  requestSerialize: (value: Req) => Buffer;
  responseDeserialize: (bytes: Buffer) => Res;
}

export interface TransportOptions {
  target: string;
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
  authToken: string | undefined;
  protoPath: string | undefined;
}

export class BridgeTransport {
  private readonly service: LiveKitBridgeDefinition;
  private readonly lease: ChannelLease;
  private readonly client: grpc.Client;
  private readonly authToken: string | undefined;

  constructor(options: TransportOptions) {
    this.service = loadStubConstructor(options.protoPath).service;
    this.authToken = options.authToken;
    this.lease = acquireChannel(options.target, options.credentials, options.channelOptions);
    this.client = new grpc.Client(options.target, options.credentials, { channelOverride: this.lease.channel });
  }

  joinRoom(request: RequestOf<"JoinRoom">, timeoutMs: number): Promise<ResponseOf<"JoinRoom">> {
    return this.unary("JoinRoom", this.service.JoinRoom, request, timeoutMs);
  }

  leaveRoom(request: RequestOf<"LeaveRoom">, timeoutMs: number): Promise<ResponseOf<"LeaveRoom">> {
    return this.unary("LeaveRoom", this.service.LeaveRoom, request, timeoutMs);
  }

  stopAudio(request: RequestOf<"StopAudio">, timeoutMs: number): Promise<ResponseOf<"StopAudio">> {
    return this.unary("StopAudio", this.service.StopAudio, request, timeoutMs);
  }

  healthCheck(request: RequestOf<"HealthCheck">, timeoutMs: number): Promise<ResponseOf<"HealthCheck">> {
    return this.unary("HealthCheck", this.service.HealthCheck, request, timeoutMs);
  }

  getStatus(request: RequestOf<"GetStatus">, timeoutMs: number): Promise<ResponseOf<"GetStatus">> {
    return this.unary("GetStatus", this.service.GetStatus, request, timeoutMs);
  }

  streamAudio(): grpc.ClientDuplexStream<RequestOf<"StreamAudio">, ResponseOf<"StreamAudio">> {
    const method = this.service.StreamAudio;
    return this.client.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      this.metadata(false),
    );
  }

  playAudio(request: RequestOf<"PlayAudio">): grpc.ClientReadableStream<ResponseOf<"PlayAudio">> {
    const method = this.service.PlayAudio;
    return this.client.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      this.metadata(false),
    );
  }

  /** Let go of the shared channel (closed once no client holds it). Idempotent. */
  close(): void {
    this.lease.release();
  }

  private unary<Req, Res>(
    name: string,
    method: UnaryDefinition<Req, Res>,
    request: Req,
    timeoutMs: number,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      try {
        this.client.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          this.metadata(true),
          { deadline: Date.now() + timeoutMs },
          (error, response) => {
            if (error) reject(fromServiceError(error, name));
            else resolve(response!);
          },
        );
      } catch (error) {
        reject(asBridgeError(error, name));
      }
    });
  }

  private metadata(waitForReady: boolean): grpc.Metadata {
    const metadata = new grpc.Metadata({ waitForReady });
    if (this.authToken) metadata.set("authorization", `Bearer ${this.authToken}`);
    return metadata;
  }
}

/**
 * One gRPC channel per (target, credentials, options), shared by every client that asks for it.
 *
 * A cloud pod runs one LiveKitGrpcClient per user; a channel each meant one HTTP/2 connection,
 * one keepalive and one reconnect backoff per user against the same bridge. The channel is
 * counted: the last client to let go of it closes it, so a disposed client leaves nothing
 * behind, and one client's dispose never cuts another's calls.
 */
import * as grpc from "@grpc/grpc-js";
import { InvalidArgumentError } from "./errors";

/** Plaintext credentials, one object: clients that pass none share their channel. */
export const INSECURE = grpc.credentials.createInsecure();

export interface ChannelLease {
  readonly channel: grpc.Channel;
  /** Give the channel back; closed when nobody holds it. Idempotent. */
  release(): void;
}

interface Shared {
  channel: grpc.Channel;
  holders: number;
}

const shared = new Map<string, Shared>();
const credentialIds = new WeakMap<grpc.ChannelCredentials, number>();
let nextCredentialId = 1;

function keyOf(target: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions): string {
  let id = credentialIds.get(credentials);
  if (id === undefined) {
    id = nextCredentialId++;
    credentialIds.set(credentials, id);
  }
  const sorted = Object.keys(options)
    .sort()
    .map((name) => [name, options[name]]);
  return JSON.stringify([target, id, sorted]);
}

/** A lease on the shared channel for these parameters, opened on first use. */
export function acquireChannel(
  target: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
): ChannelLease {
  const key = keyOf(target, credentials, options);
  let entry = shared.get(key);
  if (!entry) {
    let channel: grpc.Channel;
    try {
      channel = new grpc.Channel(target, credentials, options);
    } catch (error) {
      throw new InvalidArgumentError(`cannot open a channel to ${target}: ${String(error)}`, { cause: error });
    }
    entry = { channel, holders: 0 };
    shared.set(key, entry);
  }
  entry.holders += 1;
  const held = entry;
  let released = false;
  return {
    channel: held.channel,
    release: () => {
      if (released) return;
      released = true;
      held.holders -= 1;
      if (held.holders === 0) {
        if (shared.get(key) === held) shared.delete(key);
        held.channel.close();
      }
    },
  };
}

/** Channels open now (for tests: a disposed client must leave none behind). */
export function openChannelCount(): number {
  return shared.size;
}

/**
 * Where the bridge is. The cloud deploys it either as a sidecar on a Unix socket or as a service
 * on host:port, so both spellings are accepted from an argument or from the environment.
 */

import { InvalidArgumentError } from "./errors";

export const DEFAULT_TARGET = "127.0.0.1:9090";

/**
 * Resolve the bridge address: the explicit argument, else LIVEKIT_GRPC_BRIDGE_URL (host:port or
 * unix:/path), else LIVEKIT_GRPC_SOCKET (a bare socket path), else 127.0.0.1:9090.
 */
export function resolveTarget(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  // `||`, not `??`: an empty variable (`${VAR:-}` in a manifest) means "not set".
  const raw = explicit || env.LIVEKIT_GRPC_BRIDGE_URL || socketTarget(env.LIVEKIT_GRPC_SOCKET);
  if (explicit !== undefined && !explicit.trim()) throw new InvalidArgumentError("the bridge target is empty");
  const target = (raw || DEFAULT_TARGET).trim();
  if (target.startsWith("unix:")) {
    if (target.length === "unix:".length) throw new InvalidArgumentError("the bridge target 'unix:' has no path");
    return target;
  }
  if (target.startsWith("/")) return `unix:${target}`;
  if (target.startsWith("dns:")) return target;
  const hostPort = target.replace(/^(grpc|http):\/\//, "");
  if (!/^([^\s/:]+|\[[0-9a-fA-F:.]+\]):\d{1,5}$/.test(hostPort)) {
    throw new InvalidArgumentError(`the bridge target ${JSON.stringify(target)} is not host:port or unix:/path`);
  }
  return hostPort;
}

function socketTarget(socket: string | undefined): string | undefined {
  if (!socket) return undefined;
  return socket.startsWith("unix:") ? socket : `unix:${socket}`;
}

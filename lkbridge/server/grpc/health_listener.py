"""The optional health-only listener (`--health-port`): probes that the main port's bounds
cannot starve.

On the main port, a client holding `--max-connections` idle connections gets every new
connection closed at accept, and one holding `--max-calls` calls gets every new call refused,
health included: a kubelet probe then fails and the pod is restarted by its own attacker
(issue 23, finding 5). This second grpc server shares the process's health servicer (so it says
NOT_SERVING at shutdown at the same moment) and serves only grpc.health.v1 and the bridge's own
HealthCheck, with bounds of its own that no main-port traffic counts against. Bound to
127.0.0.1 by default: only the pod's own containers (exec probes) reach it, so no remote client
can fill even its small bounds.
"""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.errors import ServeError
from lkbridge.server.config import MAX_METADATA_BYTES, SERVICE_NAME

# Probes connect, ask once and leave (kubelet, `lkbridge health`): a handful at once is plenty.
HEALTH_MAX_CONNECTIONS = 16
HEALTH_MAX_STREAMS_PER_CONNECTION = 4
HEALTH_MAX_CALLS = 32  # Watch streams included
HEALTH_IDLE_MS = 10_000  # a connection without a call, or an unfinished handshake
HEALTH_MAX_MESSAGE_BYTES = 4096  # a HealthCheckRequest is a service name
NO_COMPRESSION = 0


def health_options() -> list[tuple[str, int]]:
    """grpc core's channel args for the health listener: small, and all of them its own."""
    return [
        ("grpc.max_receive_message_length", HEALTH_MAX_MESSAGE_BYTES),
        ("grpc.compression_enabled_algorithms_bitset", 1 << NO_COMPRESSION),
        ("grpc.max_allowed_incoming_connections", HEALTH_MAX_CONNECTIONS),
        ("grpc.max_concurrent_streams", HEALTH_MAX_STREAMS_PER_CONNECTION),
        ("grpc.max_connection_idle_ms", HEALTH_IDLE_MS),
        ("grpc.server_handshake_timeout_ms", HEALTH_IDLE_MS),
        ("grpc.max_metadata_size", MAX_METADATA_BYTES),
        ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
    ]


def bridge_health_handler(servicer: Any) -> grpc.GenericRpcHandler:
    """Only LiveKitBridge.HealthCheck of `servicer` (the auth interceptor still guards it)."""
    method = grpc.unary_unary_rpc_method_handler(
        servicer.HealthCheck,
        request_deserializer=pb.HealthCheckRequest.FromString,
        response_serializer=pb.HealthCheckResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(SERVICE_NAME, {"HealthCheck": method})


async def start_health_listener(
    address: str,
    health_servicer: health.aio.HealthServicer,
    bridge_servicer: Any,
    interceptors: list[grpc.aio.ServerInterceptor],
) -> tuple[grpc.aio.Server, int]:
    """A started plaintext server on `address` (host:port) and the port it bound."""
    server = grpc.aio.server(
        interceptors=interceptors,
        options=health_options(),
        maximum_concurrent_rpcs=HEALTH_MAX_CALLS,
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_generic_rpc_handlers((bridge_health_handler(bridge_servicer),))
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc's "Failed to bind": the port is taken
        raise ServeError(f"cannot listen for health on {address}: {exc}") from None
    await server.start()
    return server, port

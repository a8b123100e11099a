"""The one map from the bridge's refusals to gRPC status codes.

Everything below the gRPC floor says why in its own terms (a class of lkbridge.errors); the
handlers turn that into a code here, and nowhere else, the way the client turns transport errors
into its own at one boundary.
"""

from __future__ import annotations

import grpc

from lkbridge.errors import (
    AtCapacity,
    BridgeError,
    FetchError,
    FirstMessageLate,
    InvalidArgument,
    JoinFailed,
    MessageTooLarge,
    NotConnected,
    RoomLost,
    SessionNotFound,
)

STATUS_OF: dict[type[BridgeError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    FetchError: grpc.StatusCode.INVALID_ARGUMENT,  # a URL refused before any session is touched
    MessageTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    AtCapacity: grpc.StatusCode.RESOURCE_EXHAUSTED,  # --max-sessions, --max-joins-in-flight
    FirstMessageLate: grpc.StatusCode.DEADLINE_EXCEEDED,
    SessionNotFound: grpc.StatusCode.NOT_FOUND,
    NotConnected: grpc.StatusCode.FAILED_PRECONDITION,
    RoomLost: grpc.StatusCode.UNAVAILABLE,  # under a stream in progress: rejoin and retry
    JoinFailed: grpc.StatusCode.UNAVAILABLE,  # JoinRoom itself answers success=false instead
}
# a stream that ends with one of these counts in the bridge's error figure
COUNTED_AS_ERRORS = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)


def status_of(error: BridgeError) -> grpc.StatusCode:
    """The code of the nearest class in STATUS_OF; INTERNAL for one the bridge never refuses
    with."""
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return grpc.StatusCode.INTERNAL

"""The one map from the bridge's refusals and stream ends to gRPC status codes.

Everything below the gRPC floor says why in its own terms (a class of lkbridge.errors, a
`StreamEnd`); the handlers turn that into a code, and a stream's trailing metadata, here and
nowhere else, the way the client turns transport errors into its own at one boundary.
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
from lkbridge.server.session.binding import StreamEnd

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


# -- how a StreamAudio call the bridge ends is told to its client -------------------------------

END_CAUSE_KEY = "lkbridge-end-cause"
"""Trailing metadata of a StreamAudio call the bridge ended for a reason a client acts on
(`StreamEnd.cause`). Additive: a client that reads only the status sees the same code and text."""

END_STATUS: dict[StreamEnd, grpc.StatusCode | None] = {
    StreamEnd.FINISHED: None,  # OK
    StreamEnd.SUPERSEDED: grpc.StatusCode.ABORTED,
    StreamEnd.SESSION_CLOSED: grpc.StatusCode.UNAVAILABLE,
    StreamEnd.REPLACED: grpc.StatusCode.UNAVAILABLE,
    StreamEnd.ROOM_DISCONNECTED: grpc.StatusCode.UNAVAILABLE,
    StreamEnd.CLIENT_CANCELLED: grpc.StatusCode.CANCELLED,
    StreamEnd.CLIENT_ERROR: grpc.StatusCode.CANCELLED,
    StreamEnd.INTERNAL_ERROR: grpc.StatusCode.INTERNAL,
    # StreamEnd.REFUSED: the refusal's own code, from STATUS_OF
}


def end_status(why: StreamEnd | None, error: BridgeError | None = None) -> grpc.StatusCode | None:
    """The code of a call that ended `why` (None: OK, a clean end or no end yet); a refusal's
    code is its error's (`status_of`)."""
    if why is None:
        return None
    if why is StreamEnd.REFUSED:
        return status_of(error) if error is not None else grpc.StatusCode.INTERNAL
    return END_STATUS[why]


def end_trailers(why: StreamEnd | None) -> tuple[tuple[str, str], ...]:
    """The trailing metadata of a call that ended `why`: its cause, when it has one."""
    return ((END_CAUSE_KEY, why.cause),) if why is not None and why.cause else ()

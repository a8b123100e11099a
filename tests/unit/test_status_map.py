"""The one map from lkbridge's errors and stream ends to gRPC status codes (grpc/status.py).

The stream ends are pinned as a client sees them: code, details and trailing metadata (the
TypeScript client acts on `lkbridge-end-cause`; docs/architecture.md, "Session lifecycle").
"""

from __future__ import annotations

import grpc
import pytest

from lkbridge.errors import (
    AtCapacity,
    BridgeError,
    DecodeError,
    FetchError,
    InvalidArgument,
    MessageTooLarge,
    NotConnected,
    RoomLost,
    SessionNotFound,
)
from lkbridge.server.grpc.status import end_status, end_trailers, status_of
from lkbridge.server.session.binding import StreamBinding, StreamEnd


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidArgument("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (FetchError("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (MessageTooLarge("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (AtCapacity("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (SessionNotFound("u"), grpc.StatusCode.NOT_FOUND),
        (NotConnected("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (RoomLost("x"), grpc.StatusCode.UNAVAILABLE),  # the subclass wins over NotConnected
        (DecodeError("x"), grpc.StatusCode.INTERNAL),  # never a status: a FAILED event
        (BridgeError("x"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_of(error: BridgeError, code: grpc.StatusCode) -> None:
    assert status_of(error) is code


def test_session_not_found_names_the_user_unless_told_otherwise() -> None:
    assert str(SessionNotFound("u")) == "session not found for user 'u'"
    assert str(SessionNotFound("u", "session not found")) == "session not found"


REPLACED = (("lkbridge-end-cause", "replaced"),)
END_CASES = [
    (StreamEnd.FINISHED, "", None, "client finished the stream", ()),
    (
        StreamEnd.SUPERSEDED,
        "",
        grpc.StatusCode.ABORTED,
        "superseded by a newer StreamAudio call",
        (),
    ),
    (
        StreamEnd.SESSION_CLOSED,
        "LeaveRoom",
        grpc.StatusCode.UNAVAILABLE,
        "session closed: LeaveRoom",
        (),
    ),
    (StreamEnd.SESSION_CLOSED, "", grpc.StatusCode.UNAVAILABLE, "session closed: ", ()),
    (
        StreamEnd.REPLACED,
        "replaced by a new JoinRoom",
        grpc.StatusCode.UNAVAILABLE,
        "session closed: replaced by a new JoinRoom",
        REPLACED,
    ),
    (
        StreamEnd.ROOM_DISCONNECTED,
        "SERVER_SHUTDOWN",
        grpc.StatusCode.UNAVAILABLE,
        "room disconnected: SERVER_SHUTDOWN",
        (),
    ),
    (StreamEnd.CLIENT_CANCELLED, "", grpc.StatusCode.CANCELLED, "client cancelled the stream", ()),
    (
        StreamEnd.CLIENT_ERROR,
        "reset {x}",
        grpc.StatusCode.CANCELLED,
        "client stream error: reset {x}",
        (),
    ),
    (
        StreamEnd.INTERNAL_ERROR,
        "KeyError(1)",
        grpc.StatusCode.INTERNAL,
        "internal error: KeyError(1)",
        (),
    ),
]


@pytest.mark.parametrize(("why", "detail", "code", "details", "trailers"), END_CASES)
def test_a_stream_end_as_its_client_sees_it(
    why: StreamEnd, detail: str, code: grpc.StatusCode | None, details: str, trailers: tuple[()]
) -> None:
    binding = StreamBinding()
    binding.end(why, detail)
    assert end_status(binding.why, binding.error) is code
    assert binding.end_reason == details
    assert end_trailers(binding.why) == trailers


def test_every_stream_end_has_a_status() -> None:
    """A new StreamEnd cannot reach a client without a code chosen for it here."""
    pinned = {case[0] for case in END_CASES} | {StreamEnd.REFUSED}
    assert pinned == set(StreamEnd)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (MessageTooLarge("too big"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (RoomLost("room not connected: room is disconnected"), grpc.StatusCode.UNAVAILABLE),
        (InvalidArgument("bad"), grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_a_refused_stream_ends_with_its_errors_code_and_sentence(
    error: BridgeError, code: grpc.StatusCode
) -> None:
    binding = StreamBinding()
    binding.end(StreamEnd.REFUSED, str(error), error)
    assert end_status(binding.why, binding.error) is code
    assert binding.end_reason == str(error)
    assert end_trailers(binding.why) == ()


def test_only_the_first_end_counts_and_no_end_is_no_status() -> None:
    binding = StreamBinding()
    assert end_status(binding.why, binding.error) is None and end_trailers(binding.why) == ()
    binding.end(StreamEnd.SUPERSEDED)
    binding.end(StreamEnd.REPLACED, "replaced by a new JoinRoom")
    assert binding.why is StreamEnd.SUPERSEDED
    assert binding.end_reason == "superseded by a newer StreamAudio call"

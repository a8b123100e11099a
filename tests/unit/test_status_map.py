"""The one map from lkbridge's errors to gRPC status codes (server/grpc/status.py)."""

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
from lkbridge.server.grpc.status import status_of


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

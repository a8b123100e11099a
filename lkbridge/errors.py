"""lkbridge's own exception tree.

Errors of the libraries underneath (grpc, livekit, aiohttp, PyAV) are translated into these at
one boundary each; the gRPC service then maps each class to one status code in one place
(`lkbridge.server.grpc.status.STATUS_OF`). This module imports nothing, so every floor may use it.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of everything lkbridge raises on purpose."""


class InvalidArgument(BridgeError):
    """The request itself is wrong: a missing field, a bad URL, a nonsensical audio format."""


class MessageTooLarge(BridgeError):
    """A message over the bridge's own size limit: refused, the session stays."""


class FirstMessageLate(BridgeError):
    """A stream that sent no first message within its bound: ended, it held nothing."""


class FetchError(BridgeError):
    """A playback URL refused or not fetched, in a sentence a person can act on."""


class DecodeError(BridgeError):
    """Bytes that are not audio the bridge can decode."""


class SessionNotFound(BridgeError):
    """No session for this user_id: never joined, left, or closed."""

    def __init__(self, user_id: str, message: str = "") -> None:
        super().__init__(message or f"session not found for user {user_id!r}")
        self.user_id = user_id


class NotConnected(BridgeError):
    """The session exists but its room is not connected, so the call cannot start."""


class RoomLost(NotConnected):
    """The room went away under a stream in progress: the caller retries after a rejoin."""


class JoinFailed(BridgeError):
    """The room could not be joined: unreachable server, rejected token, timeout."""


class AtCapacity(BridgeError):
    """Refused at once: the bridge holds as many sessions, or joins, as it is set to."""


class ServeError(BridgeError):
    """The server cannot start as configured (e.g. its socket path holds something else)."""


class ClientError(BridgeError):
    """Raised by lkbridge.client for a failed call, with the gRPC status name and details.

    `code` stays the status name (a string): the CLI prints it as is ("error: NOT_FOUND: ...")
    and callers compare names, as the contract writes them (docs/architecture.md).
    """

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details

"""lkbridge's own exception tree.

Errors of the libraries underneath (grpc, livekit, aiohttp) are translated into these at one
boundary each; the gRPC service then maps each class to one status code in one place
(`lkbridge.server.service.STATUS_OF`).
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of everything lkbridge raises on purpose."""


class InvalidArgument(BridgeError):
    """The request itself is wrong: a missing field, a bad URL, a nonsensical audio format."""


class SessionNotFound(BridgeError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"session not found for user {user_id!r}")
        self.user_id = user_id


class NotConnected(BridgeError):
    """The session exists but its room is not connected."""


class JoinFailed(BridgeError):
    """The room could not be joined: unreachable server, rejected token, timeout."""


class SessionClosed(BridgeError):
    """The session was closed while the caller was using it."""


class ServeError(BridgeError):
    """The server cannot start as configured (e.g. its socket path holds something else)."""


class ClientError(BridgeError):
    """Raised by lkbridge.client for a failed call, with the gRPC status name and details."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details

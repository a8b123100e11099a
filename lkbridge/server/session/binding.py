"""One StreamAudio call attached to a session, and why it ended.

The session binds one call at a time; whoever ends it (a newer call, the session closing, the
room going away, the handler) says why, as a `StreamEnd`. The gRPC floor alone turns that into
the call's status (grpc/status.py), as it does with the errors of lkbridge.errors: nothing here
knows gRPC.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

from lkbridge.errors import BridgeError


@enum.unique
class StreamEnd(enum.Enum):
    """Why a StreamAudio call ended: the text its details say (a template for the one detail it
    carries), and the word a client acts on without reading the prose ("" for none).

    The word is sent as trailing metadata. Only REPLACED has one: a JoinRoom for the user
    replaced the session, and its client must not rejoin and fight the one that took it.
    """

    FINISHED = ("client finished the stream", "")  # the clean end: no error status
    SUPERSEDED = ("superseded by a newer StreamAudio call", "")
    SESSION_CLOSED = ("session closed: {}", "")  # detail: why (LeaveRoom, idle timeout, ...)
    REPLACED = ("session closed: {}", "replaced")  # closed by a JoinRoom for the same user
    ROOM_DISCONNECTED = ("room disconnected: {}", "")  # detail: the SDK's reason
    CLIENT_CANCELLED = ("client cancelled the stream", "")
    CLIENT_ERROR = ("client stream error: {}", "")  # a read or write of the call failed
    REFUSED = ("{}", "")  # a BridgeError: its own sentence; its class picks the code
    INTERNAL_ERROR = ("internal error: {}", "")

    def __init__(self, template: str, cause: str) -> None:
        self.template = template
        self.cause = cause

    def text(self, detail: str = "") -> str:
        """The details a client reads, e.g. "session closed: LeaveRoom"."""
        return self.template.format(detail)

    @property
    def client_broke(self) -> bool:
        """The client broke the call: the contract closes its session with it. Every other end
        leaves the session to a new stream, a rejoin or its idle timer."""
        return self in (StreamEnd.CLIENT_CANCELLED, StreamEnd.CLIENT_ERROR)


@dataclass
class StreamBinding:
    """One StreamAudio call attached to a session; ended by supersession, close or room loss."""

    ended: bool = False
    why: StreamEnd | None = None  # set by end()
    end_reason: str = ""  # the details text: why.text(detail)
    error: BridgeError | None = None  # REFUSED: the refusal, whose class picks the status

    # The handler task, while it waits for the client's next chunk: end() interrupts that wait
    # (supersession, session close, room loss) so the call ends now, not at the next chunk.
    reader: asyncio.Task[object] | None = None
    interrupted: bool = False

    def end(self, why: StreamEnd, detail: str = "", error: BridgeError | None = None) -> None:
        """End the call, the first time only: the first reason is the one the client gets."""
        if not self.ended:
            self.ended, self.why, self.end_reason = True, why, why.text(detail)
            self.error = error
            if self.reader is not None and not self.interrupted:
                self.interrupted = True
                self.reader.cancel()

"""One StreamAudio call attached to a session, and how it ends.

The session binds one call at a time; whoever ends it (a newer call, the session closing, the
room going away, the handler) says why here, and the handler turns that into the call's status.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc

END_CAUSE_KEY = "lkbridge-end-cause"
"""Trailing metadata of a StreamAudio call the bridge ended for a reason a client acts on."""
END_REPLACED = "replaced"


@dataclass
class StreamBinding:
    """One StreamAudio call attached to a session; ended by supersession, close or room loss."""

    ended: bool = False
    end_reason: str = ""
    end_code: grpc.StatusCode | None = None  # None: a clean end
    # Why, in a word a client can act on without reading the prose: sent as the trailing
    # metadata END_CAUSE_KEY. Only END_REPLACED so far (a JoinRoom for the user replaced the
    # session: the client must not rejoin and fight the one that took it).
    end_cause: str = ""

    # The handler task, while it waits for the client's next chunk: end() interrupts that wait
    # (supersession, session close, room loss) so the call ends now, not at the next chunk.
    reader: asyncio.Task[object] | None = None
    interrupted: bool = False

    def end(self, reason: str, code: grpc.StatusCode | None = None, cause: str = "") -> None:
        if not self.ended:
            self.ended, self.end_reason, self.end_code = True, reason, code
            self.end_cause = cause
            if self.reader is not None and not self.interrupted:
                self.interrupted = True
                self.reader.cancel()

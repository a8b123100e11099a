"""Room -> client writes without a task parked per stream.

A writer waiting on an empty outbox would be one more task per session doing nothing most of
the time (the room sends a packet every 100 ms, the write takes microseconds). Instead the
outbox calls `kick()` when audio arrives, and a short-lived drain task writes until the outbox is
empty, then ends. At most one drain runs per stream, so writes stay in order, and a slow client
still pushes back: the drain awaits each `write()` while the outbox keeps dropping the oldest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

import grpc

from lkbridge import tracing
from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.audio import ROOM_RATE
from lkbridge.server.grpc.stats import LatencyRecorder
from lkbridge.server.room_to_client.outbox import Outbox
from lkbridge.server.session.binding import StreamBinding, StreamEnd

log = logging.getLogger(__name__)


class OutCounters(Protocol):
    """The session's room -> client figures, which the writer adds to (a Session is one)."""

    frames_out: int
    bytes_out: int


class StreamWriter:
    """Drains one session's outbox into one StreamAudio call: it needs the outbox, the user_id
    each chunk carries and the counters it adds to, not the session."""

    def __init__(
        self,
        user_id: str,
        outbox: Outbox,
        counters: OutCounters,
        binding: StreamBinding,
        context: grpc.aio.ServicerContext,
        latency: LatencyRecorder,
    ) -> None:
        self._user_id = user_id
        self._outbox = outbox
        self._counters = counters
        self._binding = binding
        self._context = context
        self._latency = latency
        self._drain: asyncio.Task[None] | None = None
        self._closed = False

    def attach(self) -> None:
        """Take the session's outbox: it kicks this writer when audio arrives (the listener
        wired here rather than by the handler, so the room -> client path ends in one module)."""
        self._outbox.listener = self.kick
        self.kick()  # audio the outbox kept while no stream was bound

    def detach(self) -> None:
        """Let go of the outbox, unless a newer stream's writer has taken it since."""
        if self._outbox.listener == self.kick:
            self._outbox.listener = None

    def kick(self) -> None:
        """Audio is waiting: start a drain unless one runs (called by the outbox, in the loop)."""
        if self._drain is not None or self._closed or self._binding.ended:
            return
        if not len(self._outbox):
            return
        self._drain = asyncio.get_running_loop().create_task(
            self._write_all(), name=f"stream-out:{self._user_id}"
        )
        self._drain.add_done_callback(self._drained)

    async def _write_all(self) -> None:
        outbox, counters = self._outbox, self._counters
        while not self._binding.ended:
            item = outbox.pop()
            if item is None:
                return
            tap = tracing.packet_tap
            if tap is not None:
                tap("write", item.pcm)
            await self._context.write(
                pb.AudioChunk(
                    pcm_data=item.pcm,
                    sample_rate=ROOM_RATE,
                    channels=1,
                    timestamp_ms=item.timestamp_ms,
                    user_id=self._user_id,
                )
            )
            if tap is not None:
                tap("written", item.pcm)
            self._latency.record(time.perf_counter() - item.queued_at)
            counters.frames_out += 1
            counters.bytes_out += len(item.pcm)

    def _drained(self, task: asyncio.Task[None]) -> None:
        self._drain = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.info("StreamAudio %s: write failed: %r", self._user_id, error)
            self._binding.end(StreamEnd.CLIENT_ERROR, repr(error))
            return
        self.kick()  # audio that arrived during the last write

    async def close(self) -> None:
        """No more writes: cancel a drain still in flight (the call is ending) and wait for it.

        `asyncio.wait` keeps the drain's own CancelledError out, and lets a cancel of the
        caller through.
        """
        self._closed = True
        drain = self._drain
        if drain is not None:
            drain.cancel()
            await asyncio.wait({drain})

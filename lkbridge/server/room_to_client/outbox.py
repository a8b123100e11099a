"""Room -> client: the bounded per-session outbox between room events and the gRPC writer.

Room events arrive in the SDK's event task and must not wait, while the gRPC writer may stall on
a slow client. The outbox sits between them with a budget in bytes and in age: when it holds
more than the budget, or its oldest audio is older than the budget when the writer comes for
it, the oldest is dropped and counted. So memory stays bounded whatever the client does, and
the audio a client gets after a stall is the freshest there is. The age bound matters because
a writer blocked on a full transport window holds one item for as long as the stall lasts.
Age counts from when the audio was sent, as far as the bridge can tell: its arrival, except for
the burst that reaches a bridge whose own loop stalled (overload, a freeze), which is re-dated
as sent in real time from the stall's start (server/stalls.py), so a stall longer than the
budget costs its oldest audio, counted, rather than passing it through late.
It tells its `listener` (the bound stream's writer, see grpc/stream_writer.py) when audio arrives;
with no stream bound it only keeps the audio.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lkbridge import tracing
from lkbridge.audio import ROOM_RATE
from lkbridge.audio.meter import LevelMeter
from lkbridge.audio.pcm import strip_device_header
from lkbridge.server.stalls import STALLS, LoopStalls, StallBacklog

BYTES_PER_MS = ROOM_RATE * 2 // 1000  # mono PCM16


@dataclass(frozen=True, slots=True)
class OutboundAudio:
    pcm: bytes  # mono PCM16 at ROOM_RATE
    timestamp_ms: int  # wall clock (Unix ms) when the bridge received it
    queued_at: float  # time.perf_counter() at arrival, for the bridge-added latency
    sent_at: float  # when it was sent, as far as the bridge can tell (perf_counter), for the age


class Outbox:
    def __init__(
        self,
        max_bytes: int,
        max_age_s: float | None = None,
        stalls: LoopStalls = STALLS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._clock = clock
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s if max_age_s is not None else max_bytes / BYTES_PER_MS / 1000
        self._backlog = StallBacklog(stalls)
        self._items: deque[OutboundAudio] = deque()
        self._bytes = 0
        self.listener: Callable[[], None] | None = None
        self.frames_in = 0
        self.bytes_in = 0
        self.dropped_frames = 0
        self.dropped_bytes = 0
        self.level = LevelMeter()  # of the room audio that arrives (admin figures)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def put(self, pcm: bytes) -> None:
        if not pcm:
            return
        now = self._clock()
        sent = self._backlog.sent_at(now, len(pcm) / BYTES_PER_MS / 1000)
        self.frames_in += 1
        self.bytes_in += len(pcm)
        self.level.add(pcm)
        if now - sent > self.max_age_s:  # the oldest of a stall's backlog: too old already
            self.dropped_frames += 1
            self.dropped_bytes += len(pcm)
            return
        item = OutboundAudio(pcm, time.time_ns() // 1_000_000, now, sent)
        self._items.append(item)
        self._bytes += len(pcm)
        while self._bytes > self.max_bytes and len(self._items) > 1:
            self._drop_oldest()
        if self.listener is not None:
            self.listener()

    def put_device_packet(self, packet: bytes) -> None:
        """A data packet from the glasses: strip the 1-byte header, keep whole samples."""
        tap = tracing.packet_tap
        if tap is not None:
            tap("handler", packet[1:])
        self.put(strip_device_header(packet))

    def pop(self, now: float | None = None) -> OutboundAudio | None:
        """The oldest audio still within the age budget; older audio is dropped and counted."""
        oldest_allowed = (self._clock() if now is None else now) - self.max_age_s
        while self._items and self._items[0].sent_at < oldest_allowed:
            self._drop_oldest()
        if not self._items:
            return None
        item = self._items.popleft()
        self._bytes -= len(item.pcm)
        return item

    def _drop_oldest(self) -> None:
        old = self._items.popleft()
        self._bytes -= len(old.pcm)
        self.dropped_frames += 1
        self.dropped_bytes += len(old.pcm)

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

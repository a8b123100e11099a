"""Room -> client: the bounded per-session outbox between room events and the gRPC writer.

Room events arrive in the SDK's event task and must not wait, while the gRPC writer may stall on
a slow client. The outbox sits between them with a byte budget: when it is full the oldest audio
is dropped and counted, so memory stays bounded whatever the client does, and the audio the
client gets after a stall is the freshest there is. It tells its `listener` (the bound stream's
writer, see egress.py) when audio arrives; with no stream bound it only keeps the audio.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lkbridge.audio.meter import LevelMeter
from lkbridge.audio.pcm import strip_device_header


@dataclass(frozen=True, slots=True)
class OutboundAudio:
    pcm: bytes  # 16 kHz mono PCM16
    timestamp_ms: int  # wall clock (Unix ms) when the bridge received it
    queued_at: float  # time.perf_counter() at arrival, for the bridge-added latency


class Outbox:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
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
        item = OutboundAudio(pcm, time.time_ns() // 1_000_000, time.perf_counter())
        self._items.append(item)
        self._bytes += len(pcm)
        self.frames_in += 1
        self.bytes_in += len(pcm)
        self.level.add(pcm)
        while self._bytes > self.max_bytes and len(self._items) > 1:
            old = self._items.popleft()
            self._bytes -= len(old.pcm)
            self.dropped_frames += 1
            self.dropped_bytes += len(old.pcm)
        if self.listener is not None:
            self.listener()

    def put_device_packet(self, packet: bytes) -> None:
        """A data packet from the glasses: strip the 1-byte header, keep whole samples."""
        self.put(strip_device_header(packet))

    def pop(self) -> OutboundAudio | None:
        if not self._items:
            return None
        item = self._items.popleft()
        self._bytes -= len(item.pcm)
        return item

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

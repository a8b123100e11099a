"""Data packets whose sender the room has not announced yet, held until it is.

The SDK names a packet's sender only among the participants it has been told of, and the SFU
announces a participant after its first data packets are through: the glasses' first second of
speech after every (re)join came with no sender, and a session listening to the glasses alone
dropped it (tests/integration/test_faults.py). The native event carries no identity either
(livekit-ffi fills it from the same lookup), so such packets are held here, bounded in bytes and
age, and released when the target is announced, or dropped when someone else is.
"""

from __future__ import annotations

import time
from collections import deque


class UnannouncedPackets:
    def __init__(self, max_bytes: int, max_age_s: float = 2.0) -> None:
        self._max_bytes = max_bytes
        self._max_age_s = max_age_s
        self._held: deque[tuple[float, bytes]] = deque()
        self._bytes = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, packet: bytes) -> None:
        now = time.monotonic()
        self._held.append((now, packet))
        self._bytes += len(packet)
        while self._held and (
            self._bytes > self._max_bytes or now - self._held[0][0] > self._max_age_s
        ):
            self._bytes -= len(self._held.popleft()[1])
            self.dropped += 1

    def release(self) -> list[bytes]:
        """The held packets, oldest first, for the sender just announced."""
        packets = [packet for _, packet in self._held]
        self.clear()
        return packets

    def discard(self) -> None:
        """Someone else was announced: the held packets may be theirs."""
        self.dropped += len(self._held)
        self.clear()

    def clear(self) -> None:
        self._held.clear()
        self._bytes = 0

"""When this process could not run, and how old the audio is that reaches it in a burst after.

Overload past the knee, a long GC or a frozen host (SIGSTOP, a throttled container) stops the
bridge's event loop while its peers keep real time: the glasses' data packets wait in the kernel
and in WebRTC's buffers, the cloud's chunks in the gRPC transport. When the loop runs again all of
it arrives at once, each piece stamped "received now", so the bounds that judge audio by its
arrival (the outbox's 2 s, the source queue's 1 s) would pass seconds of stale audio through.

`LoopStalls` notices a stall as a gap between two ticks of the loop (a heartbeat every 100 ms,
and every reader that asks), and `StallBacklog` re-dates what follows a stall: its sender is
taken to have kept real time, so the audio that comes after the stall started at the stall's
start and each piece was sent one duration after the one before, until that estimate reaches
the present (the backlog is worked off). What waited in the bridge's own buffers before the stall
keeps its own dates. Only a sender that was streaming when the stall started (its audio came at
most a second before) and sends again within a second of its end is re-dated; one that was held
up by the bridge itself when the stall started (a burst the bridge was pacing: its track's
queue half full or more, grpc/service.py) is not. The
estimate needs no clock of the sender's and never makes audio younger than its arrival; it is
wrong only for a sender that fell silent exactly over the stall and speaks again at its end
(its first seconds are then taken for backlog).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.1
LAG_TICKS = 10  # the loop's lag is the worst of this many ticks: one second
# a gap between ticks longer than this is a stall: the heartbeat plus the lag a busy loop has
STALL_S = 0.3
# a sender counts as streaming into a stall when its audio came at most this long before it ...
STREAMING_GAP_S = 1.0
# ... and as sending its backlog when its next audio comes at most this long after the stall
BURST_WITHIN_S = 1.0


class LoopStalls:
    """The latest stall of this process's loop: its number and when it started."""

    def __init__(
        self, threshold_s: float = STALL_S, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._threshold_s = threshold_s
        self._clock = clock
        self._last_tick = clock()
        self.count = 0  # stalls seen since start
        self.start = 0.0  # perf_counter() of the latest stall's start (the tick before it)
        self.end = 0.0  # ... and of the first tick after it
        self.total_s = 0.0  # time spent stalled, summed
        # how late the heartbeat woke, the worst of its last second: the figure that says the
        # process is starved before it stalls (metrics' lkbridge_event_loop_lag_seconds)
        self._lags: deque[float] = deque(maxlen=LAG_TICKS)

    def tick(self, now: float | None = None) -> None:
        """The loop runs at `now`: a gap since the last tick past the threshold was a stall."""
        now = self._clock() if now is None else now
        if now - self._last_tick > self._threshold_s:
            self.count += 1
            self.start, self.end = self._last_tick, now
            self.total_s += now - self._last_tick
            log.warning(
                "event loop stalled %.2f s (overload, or the process was stopped): audio that "
                "waited past the bounds meanwhile is dropped, counted",
                now - self._last_tick,
            )
        self._last_tick = max(self._last_tick, now)

    @property
    def lag_s(self) -> float:
        """How late the heartbeat woke, the worst of its last LAG_TICKS ticks."""
        return max(self._lags, default=0.0)

    async def heartbeat(self, period_s: float = HEARTBEAT_S) -> None:
        """Tick every `period_s` for as long as the loop runs (a task of the server's). The
        time before it started (imports, the server's start) is no stall."""
        self._last_tick = self._clock()
        while True:
            self.tick()
            slept = self._clock()
            await asyncio.sleep(period_s)
            self._lags.append(max(0.0, self._clock() - slept - period_s))


# One per process: every session of the process shares its loop, hence its stalls.
STALLS = LoopStalls()


class StallBacklog:
    """Dates, for one sender's audio, when each piece was sent: its arrival, unless it came in
    the burst after a stall of this process (module docstring)."""

    def __init__(self, stalls: LoopStalls = STALLS) -> None:
        self._stalls = stalls
        self._seen = stalls.count  # stalls before this sender's first audio are none of its own
        self._sent_until: float | None = None  # estimated send time of the last audio's end
        self._last_arrival = float("-inf")

    @property
    def behind(self) -> bool:
        """Still working off a backlog: the estimate has not reached the present yet."""
        return self._sent_until is not None

    def sent_at(self, now: float, duration_s: float, *, paced: bool = False) -> float:
        """Estimated send time (perf_counter) of the end of `duration_s` of audio arriving at
        `now`. Only a sender that streamed into the stall (its audio before came at most
        STREAMING_GAP_S before the stall started) and sends again right after it is re-dated;
        `paced`: the bridge itself holds this sender back (its track's queue fills), so what
        waited was the sender's burst, not audio the stall made late."""
        before, self._last_arrival = self._last_arrival, now
        stalls = self._stalls
        stalls.tick(now)
        if stalls.count != self._seen:
            self._seen = stalls.count
            streaming = stalls.start - STREAMING_GAP_S <= before <= stalls.start
            if streaming and not paced and now - stalls.end <= BURST_WITHIN_S:
                self._sent_until = stalls.start
        if self._sent_until is None:
            return now
        self._sent_until += duration_s
        if self._sent_until >= now:
            self._sent_until = None  # caught up: real time again
            return now
        return self._sent_until

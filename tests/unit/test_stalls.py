"""Stalls of the bridge's loop, and the re-dating of the burst that follows one (server/stalls.py).

Pure logic on a fake clock: every time is passed in, nothing waits.
"""

from __future__ import annotations

import asyncio

import pytest

from lkbridge.server.room_to_client.outbox import Outbox
from lkbridge.server.stalls import BURST_WITHIN_S, LAG_TICKS, LoopStalls, StallBacklog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def streamed_until_a_stall(stall_s: float) -> tuple[Clock, LoopStalls, StallBacklog]:
    """A sender's 100 ms every 100 ms for a second, then the loop stops for `stall_s`."""
    clock = Clock()
    stalls = LoopStalls(clock=clock)
    backlog = StallBacklog(stalls)
    for _ in range(10):
        assert backlog.sent_at(clock.now, 0.1) == clock.now
        clock.now += 0.1
    clock.now += stall_s - 0.1
    return clock, stalls, backlog


def test_ticks_closer_than_the_threshold_are_no_stall() -> None:
    clock = Clock()
    stalls = LoopStalls(threshold_s=0.3, clock=clock)
    for _ in range(20):
        clock.now += 0.25
        stalls.tick()
    assert (stalls.count, stalls.total_s) == (0, 0.0)
    clock.now += 4.0
    stalls.tick()
    assert stalls.count == 1
    assert (stalls.start, stalls.end, stalls.total_s) == (clock.now - 4.0, clock.now, 4.0)


def test_the_burst_after_a_stall_is_dated_as_sent_in_real_time_from_its_start() -> None:
    clock, stalls, backlog = streamed_until_a_stall(5.0)
    stall_start = clock.now - 5.0
    burst = [backlog.sent_at(clock.now + i * 0.001, 0.1) for i in range(50)]
    assert stalls.count == 1
    # 5 s of the sender's audio waited: the first piece was sent as the stall began
    assert burst[0] == pytest.approx(stall_start + 0.1)
    assert burst[49] == pytest.approx(stall_start + 5.0)
    assert backlog.behind
    # the backlog worked off (5.1 s of audio in 5.05 s), the next piece is dated by its arrival
    later = clock.now + 0.05
    assert backlog.sent_at(later, 0.1) == later and not backlog.behind


def test_a_sender_silent_before_the_stall_is_not_re_dated() -> None:
    clock = Clock()
    stalls = LoopStalls(clock=clock)
    backlog = StallBacklog(stalls)
    backlog.sent_at(clock.now, 0.1)
    clock.now += 3.0  # quiet for 3 s, ticking
    stalls.tick()
    clock.now += 5.0  # then the stall
    assert backlog.sent_at(clock.now, 0.1) == clock.now


def test_a_sender_that_speaks_again_well_after_the_stall_is_not_re_dated() -> None:
    clock, stalls, backlog = streamed_until_a_stall(5.0)
    stalls.tick()  # the heartbeat sees the stall first
    clock.now += BURST_WITHIN_S + 0.5
    assert backlog.sent_at(clock.now, 0.1) == clock.now


def test_a_sender_the_bridge_was_pacing_is_not_re_dated() -> None:
    clock, _, backlog = streamed_until_a_stall(5.0)
    assert backlog.sent_at(clock.now, 0.1, paced=True) == clock.now
    assert not backlog.behind


def test_stalls_before_a_sender_began_are_none_of_its_own() -> None:
    clock = Clock()
    stalls = LoopStalls(clock=clock)
    clock.now += 5.0
    stalls.tick()
    backlog = StallBacklog(stalls)
    assert backlog.sent_at(clock.now, 0.1) == clock.now


def test_the_outbox_drops_what_a_stall_made_older_than_its_budget() -> None:
    clock = Clock()
    stalls = LoopStalls(clock=clock)
    outbox = Outbox(max_bytes=64_000, max_age_s=2.0, stalls=stalls, clock=clock)
    for _ in range(10):  # 1 s of 100 ms packets, read as they come
        outbox.put(b"\0" * 3200)
        assert outbox.pop() is not None
        clock.now += 0.1
    clock.now += 4.9  # the loop stopped 5 s; the device went on
    for i in range(50):
        outbox.put(bytes([i]) * 3200)
        clock.now += 0.001
    assert outbox.dropped_frames == 30, "what waited past 2 s is dropped, counted"
    first = outbox.pop()
    assert first is not None and first.pcm[0] == 30, "the newest 2 s is kept"
    assert outbox.frames_in == 60


async def test_the_time_before_the_heartbeat_starts_is_no_stall() -> None:
    clock = Clock()
    stalls = LoopStalls(clock=clock)
    clock.now += 5.0  # imports, the server's start
    beat = asyncio.get_running_loop().create_task(stalls.heartbeat())
    await asyncio.sleep(0)  # its first tick
    beat.cancel()
    await asyncio.gather(beat, return_exceptions=True)
    assert stalls.count == 0


async def test_the_loop_lag_is_the_worst_late_wakeup_of_the_last_second() -> None:
    """The heartbeat (period 0 here: each wake-up is one turn of the loop) woken 75 ms late
    once, on the fake clock, then on time: the lag is that 75 ms until LAG_TICKS later."""
    clock = Clock()
    stalls = LoopStalls(clock=clock)
    beat = asyncio.get_running_loop().create_task(stalls.heartbeat(period_s=0.0))
    try:
        await asyncio.sleep(0)  # its first tick, then it sleeps
        clock.now += 0.075
        await asyncio.sleep(0)  # it wakes 75 ms after it slept
        assert stalls.lag_s == pytest.approx(0.075)
        for _ in range(LAG_TICKS - 1):
            await asyncio.sleep(0)  # on time
        assert stalls.lag_s == pytest.approx(0.075)
        await asyncio.sleep(0)
        assert stalls.lag_s == 0.0
        assert stalls.count == 0  # late, not stalled
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)

"""Waits on a playback's task that never swallow their caller's cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lkbridge.server.policy.playback_url import FetchPolicy


async def test_waits_propagate_their_own_cancel() -> None:
    """Playback.wait() and DecodedUrl's exit wait for a task without eating a cancel aimed at
    the waiter itself (and without cancelling the task they wait for)."""
    from lkbridge.server.playback.player import Playback, PlayRequest

    track: Any = object()  # never touched: the playback is not started
    playback = Playback(PlayRequest("r", "http://x/a.mp3", 0, 0), track, FetchPolicy())
    work = asyncio.get_running_loop().create_task(asyncio.Event().wait())  # never ends itself
    # private: no public way to give a playback a task without starting a real download
    playback._task = work
    waiter = asyncio.get_running_loop().create_task(playback.wait())
    await asyncio.sleep(0)  # one loop step: the waiter begins waiting (no state shows it)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not work.done(), "the waiter's cancel stays the waiter's"
    work.cancel()

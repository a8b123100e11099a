"""Small helpers for tests: waits on state (never fixed sleeps as checks), real-time pacing,
streamed decodes.

Every wait is bounded and fails naming what it waited for. A test sleeps only to model time on
purpose (audio paced as a user streams it, a fault that lasts a given time), through `pace` or a
sleep whose comment gives the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import numpy as np

from lkbridge.audio.pcm import Int16Array

if TYPE_CHECKING:
    from lkbridge.devstack.device import TrackRecording

POLL_S = 0.05


async def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Until `predicate()` is true; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        await asyncio.sleep(POLL_S)


async def wait_for(
    predicate: Callable[[], Awaitable[object]], timeout: float = 10.0, what: str = ""
) -> None:
    """`wait_until` for a state that takes a call to read (a GetStatus, a health figure)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        await asyncio.sleep(POLL_S)


def poll_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """`wait_until` for synchronous tests (subprocesses, files): blocks the calling thread."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(POLL_S)


async def steady(
    read: Callable[[], Awaitable[int]], timeout: float = 10.0, what: str = "", reads: int = 3
) -> int:
    """A figure once it reads the same `reads` times in a row (transient work has ended)."""
    deadline = time.monotonic() + timeout
    seen = [await read()]
    while len(seen) < reads or len(set(seen[-reads:])) > 1:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout:.0f} s waiting for {what or read} to hold still: "
                f"{seen[-10:]}"
            )
        await asyncio.sleep(POLL_S * 2)
        seen.append(await read())
    return seen[-1]


async def settle(predicate: Callable[[], object], what: str, ticks: int = 1000) -> None:
    """Until `predicate()` holds, counted in event-loop steps rather than seconds: for unit tests
    of pure logic, where nothing waits on the clock and no timed check belongs."""
    for _ in range(ticks):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"still waiting for {what} after {ticks} event-loop steps")


async def pace(start: float, seconds: float) -> None:
    """Until `seconds` after the monotonic `start`: audio streamed at real-time pace, as users
    send it (a chunk every 100 ms), models time on purpose."""
    await asyncio.sleep(max(0.0, start + seconds - time.monotonic()))


def loud_ms(recording: TrackRecording, rate: int = 16000) -> int:
    """How long a recording was loud, in ms (10 ms frames)."""
    from lkbridge.audio.signal import loud_spans

    return sum(end - start for start, end in loud_spans(recording.samples(), rate))


def heard_to_the_end(recording: TrackRecording, quiet_ms: int = 300, rate: int = 16000) -> bool:
    """Something loud was heard, then `quiet_ms` of frames after it: a tone's tail has arrived."""
    from lkbridge.audio.signal import loud_spans

    samples = recording.samples()
    spans = loud_spans(samples, rate)
    return bool(spans) and len(samples) * 1000 // rate - spans[-1][1] >= quiet_ms


async def stream_decode(data: bytes, piece: int = 700) -> int:
    """Feed `data` to a StreamingDecoder in small pieces, as a download would; the number of
    16 kHz samples that come out (its DecodeError, if any, is raised)."""
    return len(await stream_decode_pcm(data, piece))


async def stream_decode_pcm(data: bytes, piece: int = 700) -> Int16Array:
    """As stream_decode, but the 16 kHz mono samples themselves, for checks of their content."""
    from lkbridge.audio.decode import SNIFF_BYTES, StreamingDecoder, sniff_format

    decoder = StreamingDecoder(sniff_format(data[:SNIFF_BYTES]))

    async def feed() -> None:
        for start in range(0, len(data), piece):
            await decoder.feed(data[start : start + piece])
        decoder.finish()

    feeder = asyncio.create_task(feed())
    try:
        chunks = [chunk async for chunk in decoder.chunks()]
    finally:
        feeder.cancel()
        decoder.close()
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

"""Small helpers for tests: condition polling (never fixed sleeps as checks), streamed decodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from lkbridge.audio.pcm import Int16Array


async def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        await asyncio.sleep(0.05)


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

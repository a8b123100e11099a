"""Small helpers for tests: condition polling (never fixed sleeps as checks), streamed decodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


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
    from lkbridge.audio.decode import SNIFF_BYTES, StreamingDecoder, sniff_format

    decoder = StreamingDecoder(sniff_format(data[:SNIFF_BYTES]))

    async def feed() -> None:
        for start in range(0, len(data), piece):
            await decoder.feed(data[start : start + piece])
        decoder.finish()

    feeder = asyncio.create_task(feed())
    try:
        return sum([len(chunk) async for chunk in decoder.chunks()])
    finally:
        feeder.cancel()
        decoder.close()

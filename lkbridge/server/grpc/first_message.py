"""The first message of a client stream, within a bound.

A StreamAudio handler (and the refusal of an unauthenticated one) waits for the client's first
AudioChunk before it can do anything: without a bound, a client that opens streams and sends
nothing holds a task and a call each for as long as it likes (issue 23: 20,000 of them held
40,000 tasks and 450 MB). `first_message` ends that wait after `BridgeConfig.
first_message_timeout_s`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

from lkbridge.errors import FirstMessageLate

T = TypeVar("T")


async def first_message(requests: AsyncIterator[T], timeout_s: float) -> T | None:
    """The stream's first message, None when the client half-closes before sending one;
    FirstMessageLate when nothing came within `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            return await anext(requests, None)
    except TimeoutError:
        raise FirstMessageLate(
            f"no first AudioChunk within {timeout_s:g} s of the stream's start"
        ) from None

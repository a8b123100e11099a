"""`first_message`: the first message, None at a half-close before any, FirstMessageLate past
the bound (the StreamAudio handler, the front's relay and the auth refusal all use it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from lkbridge.errors import FirstMessageLate
from lkbridge.server.grpc.first_message import first_message


async def messages(*items: str, then_wait: bool = False) -> AsyncIterator[str]:
    for item in items:
        yield item
    if then_wait:
        await asyncio.Event().wait()


async def test_the_first_message_is_returned() -> None:
    assert await first_message(messages("a", "b"), 5.0) == "a"


async def test_a_half_close_before_any_message_is_none() -> None:
    assert await first_message(messages(), 5.0) is None


async def test_nothing_within_the_bound_is_refused_with_the_bound_in_the_message() -> None:
    with pytest.raises(FirstMessageLate) as err:
        await first_message(messages(then_wait=True), 0.05)
    assert str(err.value) == "no first AudioChunk within 0.05 s of the stream's start"

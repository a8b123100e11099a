"""Pure logic behind issue 15's edges: redaction, string bounds, the minimum rate, the policy
resolver, and waits that never swallow their caller's cancel."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from lkbridge.errors import FetchError, InvalidArgument
from lkbridge.server.download import PolicyResolver, _MinimumRate
from lkbridge.server.fetch import FetchPolicy
from lkbridge.server.redact import RedactingFilter, clip, redact
from lkbridge.server.validate import MAX_ID_BYTES, check_length

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjbG91ZC1hZ2VudDp1MSJ9."
    "SM8adOiM7FIBmiKIdlH4UVVAU6Ox4ktjHVIMdx4Hu3k"
)


def test_redact_removes_jwts_token_parameters_and_given_secrets() -> None:
    sdk = f"signal failure: client error: 401 Unauthorized - invalid token: {JWT}"
    assert (
        redact(sdk) == "signal failure: client error: 401 Unauthorized - invalid token: [redacted]"
    )
    url = "ws://sfu:7880/rtc/v1?access_token=opaque-secret-value&auto_subscribe=0"
    assert redact(url) == "ws://sfu:7880/rtc/v1?access_token=[redacted]&auto_subscribe=0"
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer [redacted]"
    assert redact("got garbage-token-xyz back", ["garbage-token-xyz"]) == "got [redacted] back"
    assert redact("a short one", ["one"]) == "a short one", "short secrets would blank words"
    assert redact("connection refused (os error 111)") == "connection refused (os error 111)"


def test_clip_says_how_much_it_left_out() -> None:
    assert clip("abc", 5) == "abc"
    assert clip("x" * 1000, 10) == "xxxxxxxxxx...(+990 chars)"


def test_redacting_filter_scrubs_sdk_records() -> None:
    record = logging.LogRecord("livekit", logging.WARNING, "", 0, "rejected %s", (JWT,), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "rejected [redacted]"


def test_lengths_are_bounded_in_bytes_and_never_quoted() -> None:
    assert check_length("u" * MAX_ID_BYTES, "user_id", MAX_ID_BYTES) == "u" * MAX_ID_BYTES
    with pytest.raises(InvalidArgument) as err:
        check_length("é" * 200, "user_id", MAX_ID_BYTES)  # 200 characters, 400 bytes
    assert str(err.value) == "user_id is 400 bytes, over the 256-byte limit"


def test_minimum_rate_windows() -> None:
    rate = _MinimumRate(FetchPolicy(min_rate_bytes_per_s=100, rate_window_s=2.0))
    assert rate.deadline() is None, "no bound before the first bytes"
    rate.record(10, now=50.0)
    assert rate.deadline() == 52.0
    rate.record(190, now=51.0)  # quota of the window met: no bound until it ends
    assert rate.deadline() is None
    rate.record(5, now=52.5)  # a new window opens with these bytes
    assert rate.deadline() == 54.5
    with pytest.raises(FetchError) as err:
        rate.record(1, now=54.6)  # late arrival in a window short of its quota
    assert str(err.value) == ("download too slow: 5 bytes in 2 s, under the minimum of 100 bytes/s")
    assert _MinimumRate(FetchPolicy(min_rate_bytes_per_s=0)).deadline() is None


class Answers(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if not self.addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_policy_resolver_judges_every_answer() -> None:
    ok = await PolicyResolver(FetchPolicy(), Answers("10.0.0.5", "127.0.0.1")).resolve("tts", 80)
    assert [a["host"] for a in ok] == ["10.0.0.5", "127.0.0.1"]
    with pytest.raises(FetchError) as err:
        await PolicyResolver(FetchPolicy(), Answers("10.0.0.5", "169.254.169.254")).resolve("x")
    assert str(err.value) == (
        "host 'x' refused by the playback policy: link-local (cloud metadata) address"
    )
    private = PolicyResolver(FetchPolicy(deny_private=True), Answers("10.0.0.5"))
    with pytest.raises(FetchError, match="private address"):
        await private.resolve("tts")
    with pytest.raises(FetchError, match="cannot resolve host 'nowhere'"):
        await PolicyResolver(FetchPolicy(), Answers()).resolve("nowhere")


async def test_waits_propagate_their_own_cancel() -> None:
    """Playback.wait() and DecodedUrl's exit wait for a task without eating a cancel aimed at
    the waiter itself (and without cancelling the task they wait for)."""
    from lkbridge.server.playback import Playback, PlayRequest

    track: Any = object()  # never touched: the playback is not started
    playback = Playback(PlayRequest("r", "http://x/a.mp3", 0, 0), track, FetchPolicy())
    work = asyncio.get_running_loop().create_task(asyncio.sleep(30))
    playback._task = work
    waiter = asyncio.get_running_loop().create_task(playback.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not work.done(), "the waiter's cancel stays the waiter's"
    work.cancel()

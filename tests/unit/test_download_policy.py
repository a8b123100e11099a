"""The playback download's policy in pure logic: the minimum-rate windows, and the resolver
that judges every address a host name resolves to.
"""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from lkbridge.errors import FetchError
from lkbridge.server.playback.download import PolicyResolver, _MinimumRate, timeout_text
from lkbridge.server.policy.playback_url import FetchPolicy


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


def test_a_timeout_names_the_wait_that_ran_out() -> None:
    """A server that accepted and never answered is not one that could not be reached."""
    policy = FetchPolicy(connect_timeout_s=5.0, read_timeout_s=10.0, total_timeout_s=300.0)
    target = URL("http://files.example:8080/a.mp3")
    assert timeout_text(aiohttp.ConnectionTimeoutError(), target, policy) == (
        "timed out connecting to files.example:8080 (no connection within 5 s)"
    )
    assert timeout_text(aiohttp.SocketTimeoutError(), target, policy) == (
        "timed out waiting for files.example:8080 to answer (nothing within 10 s)"
    )
    assert timeout_text(TimeoutError(), target, policy) == (
        "timed out fetching from files.example:8080 (over 300 s)"
    )

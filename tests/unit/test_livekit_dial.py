"""The livekit_url a JoinRoom dials: a name is judged once and dialled at the address judged
(DNS rebinding), and its lookup runs inside the join's admission slot. Pure logic with a fake
resolver: nothing here resolves or dials (tests/integration/test_hostile_strings.py has the
real bridge)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from lkbridge.errors import AtCapacity, InvalidArgument, JoinFailed
from lkbridge.server.config import BridgeConfig
from lkbridge.server.policy.livekit_url import LivekitTarget, Resolve, judged, normalise
from lkbridge.server.session.registry import SessionRegistry
from tests.helpers import wait_until
from tests.support.resolvers import HeldResolver


def answers(*rounds: list[str]) -> tuple[list[str], Resolve]:
    """A resolver whose n-th lookup answers rounds[n] (a rebinding name answers differently
    each time); it records the names asked."""
    asked: list[str] = []
    pending: Iterator[list[str]] = iter(rounds)

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(f"{host}:{port}")
        return next(pending)

    return asked, resolve


@pytest.mark.parametrize(
    "url,addresses,dialled",
    [
        ("ws://sfu.example:7880", ["10.0.0.5"], "ws://10.0.0.5:7880"),
        ("http://sfu.example:7880/x?y=1", ["10.0.0.5"], "http://10.0.0.5:7880/x?y=1"),
        ("ws://sfu.example", ["10.0.0.5"], "ws://10.0.0.5"),
        # IPv4 first, whatever the resolver's order
        ("ws://sfu.example:7880", ["fd12::5", "10.0.0.5", "10.0.0.6"], "ws://10.0.0.5:7880"),
        ("ws://sfu.example:7880", ["fd12::5", "fd12::6"], "ws://[fd12::5]:7880"),
        # TLS needs the name: it stays (the certificate check binds the connection to it)
        ("wss://sfu.example:7880", ["10.0.0.5"], "wss://sfu.example:7880"),
        ("https://sfu.example", ["10.0.0.5"], "https://sfu.example"),
        # an IP literal is dialled as written (normalised)
        ("ws://0x7f.1:7880", [], "ws://127.0.0.1:7880"),
    ],
)
async def test_a_name_is_dialled_at_the_address_judged(
    url: str, addresses: list[str], dialled: str
) -> None:
    asked, resolve = answers(addresses)
    got = await judged(normalise(url), deny_private=False, resolve=resolve)
    assert got == dialled
    assert len(asked) == (1 if addresses else 0)


async def test_a_rebinding_name_cannot_move_the_dial() -> None:
    """First answer allowed, any later one the metadata service: the URL handed to the SDK
    holds the first, so no second lookup happens on the way to the socket."""
    asked, resolve = answers(["10.0.0.5"], ["169.254.169.254"])
    url = await judged(normalise("ws://rebind.example:80/"), deny_private=False, resolve=resolve)
    assert url == "ws://10.0.0.5:80/" and asked == ["rebind.example:80"]


async def test_every_answer_is_judged_and_a_missing_one_fails_the_join() -> None:
    _, resolve = answers(["10.0.0.5", "169.254.169.254"])
    with pytest.raises(InvalidArgument) as err:
        await judged(normalise("ws://mixed.example"), deny_private=False, resolve=resolve)
    assert str(err.value) == (
        "livekit_url host 'mixed.example' (169.254.169.254) refused by the address policy: "
        "link-local (cloud metadata) address"
    )
    _, resolve = answers([])
    with pytest.raises(JoinFailed) as failed:
        await judged(normalise("ws://empty.example"), deny_private=False, resolve=resolve)
    assert str(failed.value) == (
        "cannot resolve livekit_url host 'empty.example' to check it: no address"
    )


async def test_slow_lookups_hold_admission_slots_and_change_nothing_registered() -> None:
    """A flood of JoinRooms whose names resolve slowly: at most --max-joins-in-flight lookups
    run, the rest are refused at once (before the fix every JoinRoom started its own lookup
    before admission); a lookup past the bound answers the caller and keeps its slot until it
    ends; a refused answer leaves the user's session alone."""
    slow = HeldResolver()

    registry = SessionRegistry(BridgeConfig(max_joins_in_flight=3, connect_timeout_s=0.5))
    target = LivekitTarget(normalise("ws://slow.example:7880"), False, slow)

    async def join(user: str) -> object:
        try:
            return await registry.join(
                user, target=target, token="t", room_name="r", target_identity=""
            )
        except Exception as exc:  # the outcome is what the test compares
            return exc

    flood = [asyncio.ensure_future(join(f"u{i}")) for i in range(20)]
    outcomes = await asyncio.gather(*flood)
    refused = [o for o in outcomes if isinstance(o, AtCapacity)]
    timed_out = [o for o in outcomes if isinstance(o, JoinFailed)]
    assert len(refused) == 17 and len(timed_out) == 3, outcomes
    assert {str(o) for o in timed_out} == {
        "cannot resolve livekit_url host 'slow.example' to check it: no answer within 0.5 s"
    }
    assert slow.most == 3
    # answered, but their lookups still hold the slots: a new join is refused too
    assert registry.joins_in_progress == 3
    with pytest.raises(AtCapacity):
        await registry.join("late", target=target, token="t", room_name="r", target_identity="")
    slow.release()
    await wait_until(lambda: registry.joins_in_progress == 0, 10, "the lookups to end")
    assert len(registry) == 0 and registry.user_locks == 0

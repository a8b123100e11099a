"""Every PlayAudio ends with an event, whatever the timing of a StopAudio or a replacement.

A playback stopped in the same loop turn as its PlayAudio was cancelled before its task's first
step: nothing sent FAILED, and the call waited for an event forever (7 of 10 such pairs, and 1 in
50 same-track replacements, before the fix). Through the real bridge and SFU, with the file from
a real HTTP server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lkbridge._proto import livekit_bridge_pb2 as pb
from tests.audio_server import AudioServer, make_fixture, serve
from tests.conftest import BridgeEnv, DeviceFactory

E = pb.PlayAudioEvent
ROUNDS = 60
ANSWER_S = 10.0  # a short file plays out in well under this; a hung call never ends


@pytest.fixture
async def audio_server(tmp_path: Path) -> AsyncIterator[AudioServer]:
    make_fixture(tmp_path / "short.wav", 500, 0.3, 16000, 1, None)
    async for server in serve(tmp_path):
        yield server


async def play_events(
    bridge: BridgeEnv, user: str, url: str, request_id: str
) -> list[pb.PlayAudioEvent] | None:
    """The call's events, or None when it is still open after ANSWER_S (it hung)."""

    async def collect() -> list[pb.PlayAudioEvent]:
        return [e async for e in bridge.client.play(user, url, request_id=request_id)]

    try:
        return await asyncio.wait_for(collect(), ANSWER_S)
    except TimeoutError:
        return None


async def test_play_and_stop_sent_together_always_end_with_an_event(
    bridge: BridgeEnv, device_factory: DeviceFactory, audio_server: AudioServer, room_name: str
) -> None:
    await device_factory(room_name, "device")
    await bridge.join("race", room_name)
    url = audio_server.url("files/short.wav")
    hung, stopped_early, wrong = [], 0, []
    for i in range(ROUNDS):
        rid = f"r{i}"
        events, stop = await asyncio.gather(
            play_events(bridge, "race", url, rid),
            bridge.client.stop("race", request_id=rid, reason="race"),
        )
        if events is None:
            hung.append((rid, stop.success))
            continue
        last = events[-1]
        if last.type not in (E.COMPLETED, E.FAILED) or last.request_id != rid:
            wrong.append((rid, last))
        if stop.success:  # the bridge said it stopped this one: the call must say so too
            if (last.type, last.error) != (E.FAILED, "stopped: race"):
                wrong.append((rid, last))
            stopped_early += not any(e.type == E.STARTED for e in events)
    assert not hung, f"{len(hung)} of {ROUNDS} PlayAudio calls never ended: {hung[:5]}"
    assert not wrong, wrong[:5]
    assert stopped_early, "no round stopped a playback before it started: the race was missed"
    assert not bridge.server.registry.require("race").playbacks


async def test_same_track_replacements_always_end_with_an_event(
    bridge: BridgeEnv, device_factory: DeviceFactory, audio_server: AudioServer, room_name: str
) -> None:
    await device_factory(room_name, "device")
    await bridge.join("swap", room_name)
    url = audio_server.url("files/short.wav")
    hung, replaced = [], 0
    for i in range(ROUNDS // 2):
        ids = [f"s{i}a", f"s{i}b", f"s{i}c"]
        answers = await asyncio.gather(*(play_events(bridge, "swap", url, rid) for rid in ids))
        for rid, events in zip(ids, answers, strict=True):
            if events is None:
                hung.append(rid)
                continue
            assert events[-1].type in (E.COMPLETED, E.FAILED), events[-1]
            if events[-1].type == E.FAILED:
                assert events[-1].error.startswith("stopped: replaced by s"), events[-1].error
                replaced += 1
    assert not hung, f"{len(hung)} of {3 * (ROUNDS // 2)} PlayAudio calls never ended: {hung[:5]}"
    assert replaced, "no call was replaced: the race was missed"
    assert not bridge.server.registry.require("swap").playbacks

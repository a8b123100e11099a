"""The fault table of docs/operations.md, row by row, through a real SFU of the test's own.

Each test starts its own livekit-server (the session one is shared and must not be paused or
killed), a device peer and a bridge session streaming both ways, injects the fault, and checks
what the cloud sees (the stream's status, GetStatus) and that what the table tells the cloud to
do brings the audio back, judged by its frequency at the far side.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lkbridge.audio.pcm import to_int16
from lkbridge.audio.signal import dominant_frequency, tone
from lkbridge.client import AudioStreamCall
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.tokens import mint_token
from lkbridge.errors import ClientError
from tests.conftest import BridgeEnv
from tests.helpers import wait_for, wait_until

ROOM = "faults"


@contextlib.contextmanager
def paused(sfu: LiveKitServer) -> Iterator[None]:
    """SIGSTOP the SFU (a hung host or a long GC pause) and always SIGCONT it again."""
    assert sfu.pid is not None
    os.kill(sfu.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(sfu.pid, signal.SIGCONT)


class Stage:
    """An SFU of the test's own, a device in its room and a joined bridge session."""

    def __init__(self, bridge: BridgeEnv, workdir: Path, user: str) -> None:
        self.bridge = bridge
        self.user = user
        self.config = LiveKitConfig()
        self.sfu = LiveKitServer(self.config, workdir=workdir)
        self.devices: list[DevicePeer] = []

    def token(self, identity: str) -> str:
        return mint_token(self.config.api_key, self.config.api_secret, ROOM, identity)

    async def device(self) -> DevicePeer:
        peer = DevicePeer(self.config.url, self.token("device"))
        self.devices.append(peer)
        await peer.connect()
        return peer

    async def join(self) -> None:
        joined = await self.bridge.client.join(
            self.user,
            token=self.token(f"cloud-agent:{self.user}"),
            livekit_url=self.config.url,
            room_name=ROOM,
            target_identity="device",
        )
        assert joined.success, joined.error

    async def connected_again(self, timeout: float) -> None:
        session = self.bridge.server.registry.get(self.user)
        assert session is not None
        await wait_until(lambda: session.connected, timeout, "the session to be connected again")

    async def aclose(self) -> None:
        for peer in self.devices:
            with contextlib.suppress(Exception):
                await peer.aclose()
        await self.bridge.client.leave(self.user)
        await asyncio.to_thread(self.sfu.stop)


@contextlib.asynccontextmanager
async def staged(bridge: BridgeEnv, workdir: Path, user: str) -> AsyncIterator[Stage]:
    """A Stage with its SFU started; everything it started is stopped at the end."""
    stage = Stage(bridge, workdir, user)
    await asyncio.to_thread(stage.sfu.start)
    try:
        yield stage
    finally:
        await stage.aclose()


async def heard_frequency(
    stream: AudioStreamCall, device: DevicePeer, freq: float, *, whole: bool = False
) -> float:
    """The device speaks a 1 s tone as data packets; the frequency the client hears of it.

    At least half of the tone must arrive (a reconnecting SFU may lose its first packets), or,
    with `whole`, every sample of it."""
    while True:  # what was queued before this tone is not part of it
        try:
            await stream.receive(timeout=0.3)
        except TimeoutError:
            break
    await device.send_packets(tone(freq, 1.0, 16000), chunk_ms=100)
    pcm = b""
    with contextlib.suppress(TimeoutError):
        while len(pcm) < 32000:
            chunk = await stream.receive(timeout=3)
            if chunk is None:
                break
            pcm += chunk.pcm_data
    assert len(pcm) >= (32000 if whole else 16000), (
        f"{len(pcm)} bytes of the tone reached the client"
    )
    return dominant_frequency(to_int16(pcm), 16000)


async def test_sfu_paused_5_s_the_session_and_stream_survive(
    bridge: BridgeEnv, tmp_path: Path
) -> None:
    async with staged(bridge, tmp_path, "pause5") as stage:
        device = await stage.device()
        await stage.join()
        async with bridge.client.stream("pause5") as stream:
            assert await heard_frequency(stream, device, 440) == pytest.approx(440, abs=2)
            with paused(stage.sfu):
                await asyncio.sleep(5)  # models time: the fault is a 5 s pause
            await stage.connected_again(30)
            # the same stream carries the audio again: the cloud had nothing to do
            assert await heard_frequency(stream, device, 660) == pytest.approx(660, abs=2)
        assert (await bridge.client.status("pause5")).connected


async def test_sfu_paused_30_s_the_session_reconnects_and_the_stream_carries_on(
    bridge: BridgeEnv, tmp_path: Path
) -> None:
    async with staged(bridge, tmp_path, "pause30") as stage:
        device = await stage.device()
        await stage.join()
        async with bridge.client.stream("pause30") as stream:
            with paused(stage.sfu):
                await asyncio.sleep(30)  # models time: the fault is a 30 s pause
                status = await bridge.client.status("pause30")
                # what the cloud sees meanwhile: not connected, and why
                assert not status.connected
                assert "reconnecting" in status.last_disconnect_reason
            await stage.connected_again(60)
            assert await heard_frequency(stream, device, 550) == pytest.approx(550, abs=2)


async def test_device_leaves_and_comes_back_on_the_same_stream(
    bridge: BridgeEnv, tmp_path: Path
) -> None:
    async with staged(bridge, tmp_path, "leaver") as stage:
        device = await stage.device()
        await stage.join()
        async with bridge.client.stream("leaver") as stream:
            assert await heard_frequency(stream, device, 440) == pytest.approx(440, abs=2)
            await device.aclose()
            stage.devices.remove(device)

            async def alone() -> bool:
                return (await bridge.client.status("leaver")).participant_count == 1

            await wait_for(alone, 15, "the bridge to see the device leave")
            status = await bridge.client.status("leaver")
            assert status.connected  # the session does not depend on the device
            back = await stage.device()
            # its first packets come before the room announces it: they count too
            assert await heard_frequency(stream, back, 770, whole=True) == pytest.approx(770, abs=2)


async def test_sfu_killed_and_restarted_within_seconds(bridge: BridgeEnv, tmp_path: Path) -> None:
    """Restarted while the SDK still retries: both peers rejoin the new server by themselves.
    (Restarted later, the session ends: tests/integration/test_bridge_lifecycle.py.)"""
    async with staged(bridge, tmp_path, "phoenix") as stage:
        device = await stage.device()
        await stage.join()
        async with bridge.client.stream("phoenix") as stream:
            assert await heard_frequency(stream, device, 440) == pytest.approx(440, abs=2)
            stage.sfu.kill()
            await wait_until(
                lambda: not bridge.server.registry.get("phoenix").connected,  # type: ignore[union-attr]
                30,
                "the session to notice",
            )
            # models time: the SFU stays down a few seconds, while the SDK still retries
            await asyncio.sleep(3)
            await asyncio.to_thread(stage.sfu.start)
            await stage.connected_again(60)
            await wait_until(
                lambda: "cloud-agent:phoenix" in device.room.remote_participants,
                60,
                "the device to see the bridge again",
            )
            assert await heard_frequency(stream, device, 550) == pytest.approx(550, abs=2)


async def test_a_stranger_s_first_packets_are_not_taken_for_the_device(
    bridge: BridgeEnv, tmp_path: Path
) -> None:
    """Packets of a participant not announced yet are held for the target: another phone's
    first packets must be dropped once the room names it, and the device's kept."""
    async with staged(bridge, tmp_path, "wary") as stage:
        await stage.join()  # no device in the room yet
        async with bridge.client.stream("wary") as stream:
            stranger = DevicePeer(stage.config.url, stage.token("other-phone"))
            stage.devices.append(stranger)
            await stranger.connect()
            await stranger.send_packets(tone(880, 1.0, 16000), chunk_ms=100)
            with pytest.raises(TimeoutError):
                await stream.receive(timeout=2)
            device = await stage.device()
            assert await heard_frequency(stream, device, 440, whole=True) == pytest.approx(
                440, abs=2
            )


async def test_sfu_gone_for_good_the_stream_ends_unavailable_and_a_rejoin_works(
    bridge: BridgeEnv, tmp_path: Path
) -> None:
    async with staged(bridge, tmp_path, "orphan") as stage:
        await stage.device()
        await stage.join()
        stream = bridge.client.stream("orphan")
        await stream.open()
        stage.sfu.kill()
        with pytest.raises(ClientError) as ended:  # once the SDK has given up retrying
            while await stream.receive(timeout=90) is not None:
                pass
        assert ended.value.code == "UNAVAILABLE"
        assert ended.value.details.startswith("room disconnected: ")
        status = await bridge.client.status("orphan")
        assert not status.connected and status.last_disconnect_reason
        # what the table tells the cloud: JoinRoom again once the SFU is back, then a new stream
        for peer in stage.devices:
            await peer.aclose()
        stage.devices.clear()
        await asyncio.to_thread(stage.sfu.start)
        device = await stage.device()
        await stage.join()
        async with bridge.client.stream("orphan") as again:
            assert await heard_frequency(again, device, 550) == pytest.approx(550, abs=2)

"""A hostile or broken StreamAudio client, through the real SFU: every input bounded, every
session released or kept as the contract says, and the exact status for each."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc
from lkbridge.audio.pcm import to_int16
from lkbridge.audio.signal import dominant_frequency, tone
from lkbridge.client import BridgeClient
from lkbridge.errors import ClientError
from tests.audio_server import AudioServer, make_fixture, serve
from tests.conftest import BridgeEnv, BridgeFactory, DeviceFactory, LiveKitEnv
from tests.helpers import wait_until
from tests.integration.test_overload import Received, device_speaks, read_all
from tests.support.serving import ServeProcess, serve_process, start_serve

__all__ = ["serve_process"]  # the fixture, imported for this module

MIB = 1024 * 1024


async def health_figure(bridge: BridgeEnv, key: str) -> float:
    return float((await bridge.client.health()).metadata[key])


async def raw_stream(
    bridge: BridgeEnv | str, user: str, chunk: pb.AudioChunk
) -> grpc.aio.AioRpcError:
    """Send one chunk on a channel that lets anything out; the call's error."""
    options = [("grpc.max_send_message_length", 64 * MIB)]
    target = bridge if isinstance(bridge, str) else bridge.target
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        call = pb_grpc.LiveKitBridgeStub(channel).StreamAudio()
        await call.write(pb.AudioChunk(user_id=user))
        await call.write(chunk)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            while await call.read() is not grpc.aio.EOF:
                pass
        return err.value


# -- row 1: a chunk's work is bounded --------------------------------------------------------------


async def test_a_chunk_that_would_upsample_16x_is_refused_and_memory_stays(
    bridge: BridgeEnv, room_name: str
) -> None:
    users = [f"amp{i}" for i in range(4)]
    for user in users:
        await bridge.join(user, room_name)
    rss_before = await health_figure(bridge, "rss_mb")
    pcm = b"\0\1" * (9 * 1000 * 1000 // 2)  # 9 MB declared at 1 kHz: 144 MB at 16 kHz

    async def send(user: str) -> ClientError:
        stream = bridge.client.stream(user)
        await stream.open()
        await stream.send(pcm, sample_rate=1000)
        with pytest.raises(ClientError) as err:
            await stream.receive(timeout=30)
        return err.value

    errors = await asyncio.gather(*(send(u) for u in users))
    rss_after = await health_figure(bridge, "rss_mb")
    for error in errors:
        assert (error.code, error.details) == (
            "INVALID_ARGUMENT",
            "chunk of 9000000 bytes at 1000 Hz would be 144000000 bytes at 16000 Hz, "
            "over the 10485760 byte limit: send smaller chunks",
        )
    print(f"RSS {rss_before:.0f} -> {rss_after:.0f} MB for four refused 9 MB chunks")
    # converted, four such chunks would take RSS from 124 to 1819 MB; refused, they cost the
    # messages only
    assert rss_after < rss_before * 1.5 + 100, (rss_before, rss_after)
    for user in users:
        assert (await bridge.client.status(user)).connected


async def test_a_large_upsampled_chunk_plays_in_bounded_slices(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("slices", room_name)
    rss_before = await health_figure(bridge, "rss_mb")
    signal = tone(500, 300.0, 8000)  # 4.8 MB at 8 kHz: 9.6 MB, five minutes, at 16 kHz
    stream = bridge.client.stream("slices")
    await stream.open()
    await stream.send(signal.tobytes(), sample_rate=8000)
    recording = await device.wait_for_track("speaker")
    await wait_until(lambda: len(recording.samples()) > 32000, 15, "two seconds heard")
    rss_during = await health_figure(bridge, "rss_mb")
    heard = recording.samples()[-16000:]
    assert dominant_frequency(heard, 16000) == pytest.approx(500, abs=2)
    print(f"RSS {rss_before:.0f} -> {rss_during:.0f} MB while a 9.6 MB chunk plays in slices")
    # the whole chunk at 16 kHz would be 9.6 MB of samples plus soxr's float buffers
    assert rss_during < rss_before * 1.3 + 40, (rss_before, rss_during)
    stream.cancel()


# -- row 2: an oversized message -------------------------------------------------------------------


async def test_an_oversized_message_is_refused_and_the_session_stays(
    bridge: BridgeEnv, room_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    await bridge.join("big", room_name)
    caplog.set_level(logging.INFO, logger="lkbridge.server.grpc.service")
    error = await raw_stream(bridge, "big", pb.AudioChunk(pcm_data=b"\0" * (11 * MIB)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    size = pb.AudioChunk(pcm_data=b"\0" * (11 * MIB)).ByteSize()
    assert error.details() == f"Received message larger than max ({size} vs. 10485760)"
    assert (await bridge.client.status("big")).connected
    ended = [r.getMessage() for r in caplog.records if "StreamAudio big ended" in r.getMessage()]
    assert ended == [
        f"StreamAudio big ended: Received message larger than max ({size} vs. 10485760) "
        "(RESOURCE_EXHAUSTED)"
    ]
    assert not any("cancelled" in r.getMessage() for r in caplog.records)
    async with bridge.client.stream("big") as again:
        await again.send(b"\0\0" * 320)
    assert (await bridge.client.status("big")).connected


# -- rows 3 and 12: who ended the stream decides the session's fate --------------------------------


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"sample_rate": -1}, "sample_rate -1 out of range"),
        ({"track_id": 99}, "track_id 99 out of range"),
    ],
)
async def test_a_stream_the_bridge_ends_leaves_the_session_to_its_idle_timer(
    bridge_factory: BridgeFactory, room_name: str, fields: dict[str, int], message: str
) -> None:
    bridge = await bridge_factory(idle_timeout_s=2.0)
    tasks_before = await health_figure(bridge, "tasks")
    await bridge.join("err", room_name)
    error = await raw_stream(bridge, "err", pb.AudioChunk(pcm_data=b"\0\0" * 160, **fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (error.details() or "")
    assert (await bridge.client.status("err")).connected, "the session stays"
    started = time.monotonic()
    await wait_until(lambda: bridge.server.registry.get("err") is None, 10, "idle timeout")
    assert time.monotonic() - started >= 1.0
    assert not (await bridge.client.status("err")).connected
    await asyncio.sleep(0.5)
    assert await health_figure(bridge, "tasks") <= tasks_before


def hold_loop(seconds: float) -> None:
    time.sleep(seconds)


async def busy_loop(stop: asyncio.Event) -> None:
    """Hold the event loop in 30 ms slices, as twenty busy sessions do."""
    while not stop.is_set():
        hold_loop(0.03)
        await asyncio.sleep(0.01)


async def test_cancel_and_clean_end_are_told_apart_on_a_busy_loop(
    bridge_factory: BridgeFactory, room_name: str
) -> None:
    bridge = await bridge_factory(idle_timeout_s=300.0)
    stop = asyncio.Event()
    hog = asyncio.get_running_loop().create_task(busy_loop(stop))
    try:
        for i in range(8):
            await bridge.join("tell", room_name)
            session = bridge.server.registry.get("tell")
            stream = bridge.client.stream("tell")
            await stream.open()
            await stream.send(b"\0\0" * 320)
            # a call cancelled before its first chunk arrives names no user: nothing to close
            assert session is not None
            await wait_until(lambda s=session: s.stream is not None, 10, "the stream bound")
            if i % 2:
                await stream.done_writing()
                assert await stream.receive(timeout=10) is None
                assert bridge.server.registry.get("tell") is session, f"clean end {i} kept it"
            else:
                stream.cancel()
                await wait_until(
                    lambda: bridge.server.registry.get("tell") is None, 10, f"cancel {i} closes"
                )
    finally:
        stop.set()
        await hog


# -- row 4: a playback is activity -----------------------------------------------------------------


@pytest.fixture
async def tone_server(tmp_path: Path) -> AsyncIterator[AudioServer]:
    make_fixture(tmp_path / "tone-5s.wav", 440, 5.0, 16000, 1, None)
    async for server in serve(tmp_path):
        yield server


async def test_idle_timeout_never_cuts_a_playback(
    bridge_factory: BridgeFactory,
    device_factory: DeviceFactory,
    tone_server: AudioServer,
    room_name: str,
) -> None:
    bridge = await bridge_factory(idle_timeout_s=2.0)
    await device_factory(room_name, "device")
    await bridge.join("idle", room_name)
    events = [e async for e in bridge.client.play("idle", tone_server.url("files/tone-5s.wav"))]
    assert events[-1].type == pb.PlayAudioEvent.COMPLETED, events[-1].error
    assert events[-1].duration_ms >= 4900
    assert (await bridge.client.status("idle")).connected
    # the idle period starts when the playback ends
    await wait_until(lambda: bridge.server.registry.get("idle") is None, 10, "idle timeout")


# -- row 6: a slow reader --------------------------------------------------------------------------


async def test_a_slow_reader_gets_the_newest_two_seconds_and_drops_are_counted(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    """... while a neighbour on the same bridge, read as it comes, loses nothing and keeps its
    rate: one stalled client costs only its own audio."""
    device = await device_factory(room_name, "device")
    neighbour = await device_factory(room_name, "neighbour")
    await bridge.join("slow", room_name)
    await bridge.join("fine", room_name, target_identity="neighbour")
    stream = bridge.client.stream("slow")
    await stream.open()
    loop = asyncio.get_running_loop()
    fine = bridge.client.stream("fine")
    await fine.open()
    heard = Received()
    fine_reader = loop.create_task(read_all(fine, heard))
    fine_sender = loop.create_task(device_speaks(neighbour, 12.0, freq=660))
    # 6 s at 440 Hz, then 6 s at 880 Hz, in real time (10 packets/s)
    sender = loop.create_task(device.send_packets(np.concatenate([tone(440, 6.0), tone(880, 6.0)])))
    first = await stream.receive(timeout=10)
    assert first is not None
    stalled_ns = time.time_ns()
    await asyncio.sleep(11.0)  # the client stops reading; the device goes on
    resumed_ms = time.time() * 1000
    received: list[pb.AudioChunk] = []
    with pytest.raises(TimeoutError):
        while len(received) < 400:
            chunk = await stream.receive(timeout=0.5)
            assert chunk is not None
            received.append(chunk)
    await sender
    backlog = [c for c in received if c.timestamp_ms <= resumed_ms]  # what had waited
    seconds = sum(len(c.pcm_data) for c in backlog) / 32000
    samples = to_int16(b"".join(c.pcm_data for c in backlog))
    newest = samples[-24000:]  # the last 1.5 s of what waited
    print(f"backlog {seconds:.2f} s after an 11 s stall")
    assert seconds <= 3.0, f"{seconds:.1f} s of backlog"
    assert dominant_frequency(newest, 16000) == pytest.approx(880, abs=2)
    older_tone = sum(
        1
        for c in backlog
        if len(c.pcm_data) >= 640
        and abs(dominant_frequency(to_int16(c.pcm_data), 16000) - 440) < 20
    )
    assert older_tone <= 8, f"{older_tone} chunks of the old tone came first"
    health = await bridge.client.health()
    assert int(health.metadata["dropped_frames"]) > 0
    assert int(health.metadata["dropped_bytes"]) >= int(health.metadata["dropped_frames"]) * 3000
    drops = {s.user_id: s.drops for s in await bridge.client.list_sessions()}
    assert drops["slow"] == int(health.metadata["dropped_frames"])
    stream.cancel()
    # the neighbour: every packet, in time, and its tone
    sent = await fine_sender
    await wait_until(lambda: len(heard.chunks) == sent, 5, "all of the neighbour's packets")
    fine.cancel()
    await fine_reader
    assert drops["fine"] == 0
    during = [at for at, _ in heard.chunks if stalled_ns <= at <= resumed_ms * 1_000_000]
    rate = len(during) / ((resumed_ms * 1_000_000 - stalled_ns) / 1e9)
    ages = heard.ages_s()
    print(f"neighbour: {rate:.1f} chunks/s during the stall (sent 10/s), oldest {max(ages):.2f} s")
    assert rate >= 0.9 * 10, f"{rate:.1f} chunks/s while the other client stalled"
    assert dominant_frequency(heard.pcm(), 16000) == pytest.approx(660, abs=2)


# -- row 13: every task kept ---------------------------------------------------------------------


async def test_a_forwarded_track_that_goes_away_leaves_no_task_behind(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, room_name: str
) -> None:
    bridge = await bridge_factory(forward_tracks=True)
    await bridge.join("fwd", room_name, target_identity="device")
    session = bridge.server.registry.get("fwd")
    assert session is not None
    tasks_before = await health_figure(bridge, "tasks")
    device = await device_factory(room_name, "device")
    async with bridge.client.stream("fwd") as stream:
        publish = asyncio.get_running_loop().create_task(
            device.publish_audio("mic", tone(660, 1.5))
        )
        assert await stream.receive(timeout=8) is not None
        await publish
        await device.aclose()  # its track is unsubscribed: the forwarder and its stream end
        await wait_until(lambda: session._forwarding.readers.tasks == 0, 10, "the track released")
    await asyncio.sleep(0.5)
    assert await health_figure(bridge, "tasks") <= tasks_before


# -- the same rules through a front (`--workers 2`) ------------------------------------------------


async def test_through_a_front_the_session_fate_is_the_same(
    serve_process: list[ServeProcess], livekit_server: LiveKitEnv, room_name: str
) -> None:
    served = start_serve("--port", "0", "--workers", "2")
    serve_process.append(served)
    async with BridgeClient(served.target) as client:

        async def join() -> None:
            token = livekit_server.token(room_name, "cloud-agent:fr")
            joined = await client.join("fr", token=token, livekit_url=livekit_server.url)
            assert joined.success, joined.error

        await join()
        error = await raw_stream(served.target, "fr", pb.AudioChunk(pcm_data=b"\0" * (11 * MIB)))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (error.details() or "").startswith("Received message larger than max (")
        assert (await client.status("fr")).connected, "an oversized chunk keeps the session"
        error = await raw_stream(served.target, "fr", pb.AudioChunk(pcm_data=b"\0\0", track_id=99))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (await client.status("fr")).connected, "a bridge-ended stream keeps it"
        async with client.stream("fr") as stream:
            await stream.send(b"\0\0" * 320)
        assert (await client.status("fr")).connected, "a clean end keeps it"
        for _ in range(3):
            stream = client.stream("fr")
            await stream.open()
            await stream.send(b"\0\0" * 320)
            deadline = time.monotonic() + 10
            while not any(s.stream_open for s in await client.list_sessions()):
                assert time.monotonic() < deadline, "the worker's stream never opened"
                await asyncio.sleep(0.05)
            stream.cancel()
            deadline = time.monotonic() + 10
            while (await client.status("fr")).connected:
                assert time.monotonic() < deadline, "a cancel through the front closes it"
                await asyncio.sleep(0.1)
            await join()

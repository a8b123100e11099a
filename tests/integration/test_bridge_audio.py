"""Audio both ways through a real bridge, the real SFU and real SDK device peers."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from lkbridge.audio.pcm import to_bytes, to_int16
from lkbridge.audio.signal import dominant_frequency, loud_part, loud_spans, tone
from lkbridge.client import AudioStreamCall
from lkbridge.devstack.device import TrackRecording
from tests.conftest import BridgeEnv, BridgeFactory, DeviceFactory
from tests.helpers import heard_to_the_end, pace, wait_until
from tests.support.audio import stream_samples, stream_tone


async def collect(stream: AudioStreamCall, min_bytes: int, timeout: float = 10.0) -> list:
    chunks = []
    total = 0
    deadline = time.monotonic() + timeout
    while total < min_bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            chunk = await stream.receive(timeout=remaining)
        except TimeoutError:
            break
        if chunk is None:
            break
        chunks.append(chunk)
        total += len(chunk.pcm_data)
    return chunks


async def test_device_packets_reach_the_client(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("alice", room_name, target_identity="device")
    async with bridge.client.stream("alice") as stream:
        signal = tone(440, 1.0, 16000)
        before = time.time() * 1000
        sent = await device.send_packets(signal, chunk_ms=100)
        expected = sum(len(packet) - 1 for _, packet in sent)
        chunks = await collect(stream, expected)
    received = b"".join(c.pcm_data for c in chunks)
    assert len(received) == expected == 2 * len(signal)
    assert dominant_frequency(to_int16(received), 16000) == pytest.approx(440, abs=1)
    assert all(c.sample_rate == 16000 and c.channels == 1 for c in chunks)
    assert all(before - 1000 < c.timestamp_ms < time.time() * 1000 + 1 for c in chunks)


async def test_client_tone_reaches_device_on_speaker_track(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("bob", room_name)
    async with bridge.client.stream("bob") as stream:
        await stream_samples(stream, tone(523.25, 2.0, 16000))
        recording = await device.wait_for_track("speaker")
        await wait_until(lambda: heard_to_the_end(recording), 10, "the tone's end at the device")
    heard = recording.samples()
    assert dominant_frequency(loud_part(heard, 16000), 16000) == pytest.approx(523.25, abs=2)
    spans = loud_spans(heard, 16000)
    loud_ms = sum(end - start for start, end in spans)
    # first words are not clipped: the track's first audio waited for the device's subscription
    assert loud_ms >= 1900, f"heard {loud_ms} ms of a 2000 ms utterance: {spans}"
    # bridge-added latency: each chunk went into the SDK before the SDK acknowledged it
    metadata = (await bridge.client.health()).metadata
    figures = {k: float(v) for k, v in metadata.items() if k.startswith("latency_")}
    assert 0 <= figures["latency_in_p50_ms"] <= figures["latency_in_ack_p50_ms"] > 0
    assert figures["latency_in_p99_ms"] <= figures["latency_in_ack_p99_ms"]


def first_loud_after(recording: TrackRecording, since: float) -> float:
    """Arrival time of the first loud 10 ms frame the device heard at or after `since`."""
    for part, at in zip(recording.parts, recording.arrivals, strict=True):
        if at >= since and loud_spans(part, 16000, frame_ms=len(part) * 1000 // 16000):
            return at
    raise AssertionError(f"nothing loud heard after {since:.3f}")


async def test_a_late_burst_is_given_back_at_the_next_pause(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    """A client that stalls and then sends what it held in one burst leaves its track half a
    second behind: the source's timer never catches up by itself. The bridge gives the time
    back in the next pause (silent chunks dropped while audio is queued), so a beep after the
    pause is heard as soon as one before the burst was, and the burst itself is heard whole."""
    device = await device_factory(room_name, "device")
    await bridge.join("carol", room_name)
    beep, quiet = tone(660, 0.1, 16000), np.zeros(1600, dtype=np.int16)
    plan = [quiet] * 30 + [beep] + [quiet] * 10 + [beep] * 5 + [quiet] * 15 + [beep] + [quiet] * 5
    sent_at: list[float] = []
    async with bridge.client.stream("carol") as stream:
        start = time.monotonic()
        for i, chunk in enumerate(plan):
            sent_at.append(time.monotonic())
            await stream.send(to_bytes(chunk))
            if not 41 <= i < 45:  # chunks 41-45 go out at once: the burst
                await pace(start, (i + 1 - 4 * (i >= 45)) * 0.1)
        recording = await device.wait_for_track("speaker")
        await wait_until(
            lambda: heard_to_the_end(recording, quiet_ms=300),
            10,
            "the last beep's end at the device",
        )
    before = first_loud_after(recording, sent_at[30]) - sent_at[30]
    after = first_loud_after(recording, sent_at[61]) - sent_at[61]
    # without the catch-up the second beep waits behind the burst's 400 ms for good
    assert after - before < 0.25, f"beep before the burst {before:.3f} s, after {after:.3f} s"
    spans = loud_spans(recording.samples(), 16000)
    burst = max(end - start for start, end in spans)
    assert burst >= 480, f"the burst's 500 ms heard as {spans}"


@pytest.mark.parametrize(
    "track_id,name,rate,channels",
    [
        (1, "app_audio", 16000, 1),
        (2, "tts", 16000, 1),
        (0, "speaker", 48000, 2),
        (5, "track_5", 44100, 1),
    ],
)
async def test_tracks_by_id_and_resampling(
    bridge: BridgeEnv,
    device_factory: DeviceFactory,
    room_name: str,
    track_id: int,
    name: str,
    rate: int,
    channels: int,
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("carol", room_name)
    async with bridge.client.stream("carol") as stream:
        await stream_tone(stream, 700, 1.5, rate=rate, channels=channels, track_id=track_id)
        recording = await device.wait_for_track(name)
        await wait_until(lambda: heard_to_the_end(recording), 10, "the tone's end at the device")
    assert set(device.recordings) == {name}, "only the used track is published"
    heard = loud_part(recording.samples(), 16000)
    assert len(heard) > 16000, f"heard {len(heard)} loud samples"
    assert dominant_frequency(heard, 16000) == pytest.approx(700, abs=2)


async def test_target_identity_filters_senders(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    other = await device_factory(room_name, "other-phone")
    await bridge.join("dave", room_name, target_identity="device")
    async with bridge.client.stream("dave") as stream:
        sent_other = other.send_packets(tone(880, 1.0), chunk_ms=100)
        sent_device = device.send_packets(tone(440, 1.0), chunk_ms=100)
        await asyncio.gather(sent_other, sent_device)
        chunks = await collect(stream, 32000, timeout=5)
        extra = await collect(stream, 1, timeout=0.5)
    received = to_int16(b"".join(c.pcm_data for c in chunks + extra))
    assert len(received) == 16000, "exactly the target's samples, nothing of the other phone"
    assert dominant_frequency(received, 16000) == pytest.approx(440, abs=1)


async def test_empty_target_forwards_everyone(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    other = await device_factory(room_name, "other-phone")
    await bridge.join("erin", room_name, target_identity="")
    async with bridge.client.stream("erin") as stream:
        await device.send_packets(tone(440, 0.5), chunk_ms=100)
        await other.send_packets(tone(880, 0.5), chunk_ms=100)
        chunks = await collect(stream, 32000, timeout=5)
    received = to_int16(b"".join(c.pcm_data for c in chunks))
    assert len(received) == 16000
    assert dominant_frequency(received[:8000], 16000) == pytest.approx(440, abs=2)
    assert dominant_frequency(received[8000:], 16000) == pytest.approx(880, abs=2)


async def test_forward_tracks_option_forwards_the_microphone_track(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, room_name: str
) -> None:
    bridge = await bridge_factory(forward_tracks=True)
    device = await device_factory(room_name, "device")
    await bridge.join("frank", room_name, target_identity="device")
    async with bridge.client.stream("frank") as stream:
        publish = asyncio.create_task(device.publish_audio("mic", tone(660, 2.0)))
        chunks = await collect(stream, 32000, timeout=8)
        await publish
    received = loud_part(to_int16(b"".join(c.pcm_data for c in chunks)), 16000)
    assert len(received) > 8000
    assert dominant_frequency(received, 16000) == pytest.approx(660, abs=3)
    assert all(c.sample_rate == 16000 and c.channels == 1 for c in chunks)


async def test_slow_reader_keeps_memory_bounded_and_recovers(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, room_name: str
) -> None:
    bridge = await bridge_factory(outbox_ms=1000)
    device = await device_factory(room_name, "device")
    await bridge.join("gina", room_name)
    session = bridge.server.registry.get("gina")
    assert session is not None
    async with bridge.client.stream("gina") as stream:
        # 30 s of audio while the client reads nothing
        await device.send_packets(tone(440, 30.0), chunk_ms=100, realtime=False)
        outbox = session.outbox
        await wait_until(
            lambda: outbox.frames_in >= 300,
            10,
            "the 300 packets to reach the session's outbox",
        )
        assert outbox.queued_bytes <= outbox.max_bytes == 32000
        assert outbox.dropped_frames > 0, "a stalled reader must cost old audio, counted"
        # the client resumes; fresh audio (880 Hz) must arrive after what was buffered
        fresh = asyncio.create_task(device.send_packets(tone(880, 3.0), chunk_ms=100))
        chunks = await collect(stream, 30 * 32000, timeout=6)
        await fresh
    received = to_int16(b"".join(c.pcm_data for c in chunks))
    assert len(received) < 30 * 16000, "the stall cost audio instead of memory"
    assert dominant_frequency(received[-8000:], 16000) == pytest.approx(880, abs=2)
    assert outbox.dropped_bytes == outbox.dropped_frames * 3200

"""Audio both ways through a real bridge, the real SFU and real SDK device peers."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from lkbridge.audio.pcm import to_bytes, to_int16
from lkbridge.audio.signal import dominant_frequency, loud_part, loud_spans, tone
from lkbridge.client import AudioStreamCall
from tests.conftest import BridgeEnv, DeviceFactory


async def collect(stream: AudioStreamCall, min_bytes: int, timeout: float = 10.0) -> list:
    chunks = []
    total = 0
    deadline = time.monotonic() + timeout
    while total < min_bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            chunk = await asyncio.wait_for(stream.receive(), remaining)
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
        signal = tone(523.25, 2.0, 16000)
        start = time.monotonic()
        for i, chunk in enumerate(np.array_split(signal, 20)):
            await stream.send(to_bytes(chunk))
            await asyncio.sleep(max(0, start + (i + 1) * 0.1 - time.monotonic()))
        recording = await device.wait_for_track("speaker")
        await asyncio.sleep(1.0)
    heard = recording.samples()
    assert dominant_frequency(loud_part(heard, 16000), 16000) == pytest.approx(523.25, abs=2)
    spans = loud_spans(heard, 16000)
    loud_ms = sum(end - start for start, end in spans)
    # first words are not clipped: the track's first audio waited for the device's subscription
    assert loud_ms >= 1900, f"heard {loud_ms} ms of a 2000 ms utterance: {spans}"

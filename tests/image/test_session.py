"""A session through the bridge inside the container image, against the real SFU and a real
device peer: audio both ways, checked by content, then (given the container's PID) SIGTERM
while the stream is open.

scripts/image-check.sh starts the container and runs this with LKBRIDGE_IMAGE_BRIDGE set to its
address; without it (a plain `pytest` or scripts/test.sh run) the test is skipped, since no
container is there to test.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lkbridge.audio.pcm import Int16Array, to_bytes, to_int16
from lkbridge.audio.signal import dominant_frequency, loud_part, loud_spans, tone
from lkbridge.client import AudioStreamCall, BridgeClient
from lkbridge.errors import ClientError
from tests.conftest import DeviceFactory, LiveKitEnv
from tests.helpers import wait_until

TARGET = os.environ.get("LKBRIDGE_IMAGE_BRIDGE", "")
PID = int(os.environ.get("LKBRIDGE_IMAGE_PID") or 0)
GRACE_S = float(os.environ.get("LKBRIDGE_IMAGE_GRACE", "10"))
REPORT = os.environ.get("LKBRIDGE_IMAGE_REPORT", "")
RATE = 16000

pytestmark = pytest.mark.skipif(
    not TARGET, reason="needs a running container: bash scripts/image-check.sh"
)


async def receive_pcm(stream: AudioStreamCall, nbytes: int, timeout: float = 15.0) -> bytes:
    received = b""
    deadline = time.monotonic() + timeout
    while len(received) < nbytes and (remaining := deadline - time.monotonic()) > 0:
        try:
            chunk = await stream.receive(timeout=remaining)
        except TimeoutError:
            break
        if chunk is None:
            break
        assert (chunk.sample_rate, chunk.channels) == (RATE, 1)
        received += chunk.pcm_data
    return received


async def send_tone(stream: AudioStreamCall, freq: float, seconds: float) -> None:
    """At real-time pace in 100 ms chunks, as the cloud sends."""
    start = time.monotonic()
    for i, part in enumerate(np.array_split(tone(freq, seconds, RATE), round(seconds * 10))):
        await stream.send(to_bytes(part))
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.1 - time.monotonic()))


def loud_ms(samples: Int16Array) -> int:
    return sum(end - start for start, end in loud_spans(samples, RATE))


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def figures() -> Iterator[dict[str, float]]:
    """What the test measured, for scripts/image-check.sh's summary."""
    measured: dict[str, float] = {}
    yield measured
    if REPORT:
        Path(REPORT).write_text(json.dumps({k: round(v, 2) for k, v in measured.items()}))


async def test_audio_both_ways_through_the_container(
    livekit_server: LiveKitEnv,
    device_factory: DeviceFactory,
    room_name: str,
    figures: dict[str, float],
) -> None:
    async with BridgeClient(TARGET) as client:
        await client.wait_ready(30)
        assert await client.standard_health() == "SERVING"
        device = await device_factory(room_name, "device")
        # the SFU listens on the namespace's 127.0.0.1, which the container shares
        joined = await client.join(
            "image-check",
            token=livekit_server.token(room_name, "cloud-agent:image-check"),
            livekit_url=livekit_server.url,
            room_name=room_name,
            target_identity="device",
        )
        assert joined.success, joined.error
        async with client.stream("image-check") as stream:
            # the glasses' microphone: data packets from the device, PCM at the client
            sent = await device.send_packets(tone(440, 1.0, RATE), chunk_ms=100)
            expected = sum(len(packet) - 1 for _, packet in sent)
            received = await receive_pcm(stream, expected)
            assert len(received) == expected, f"{len(received)} of {expected} bytes"
            figures["in_hz"] = dominant_frequency(to_int16(received), RATE)
            assert figures["in_hz"] == pytest.approx(440, abs=1)

            # the cloud's speech: PCM from the client, heard on the device's speaker track
            await send_tone(stream, 523.25, 2.0)
            recording = await device.wait_for_track("speaker")
            await wait_until(
                lambda: loud_ms(recording.samples()) >= 0.9 * 2000,
                timeout=10,
                what="the speaker track's tone at the device",
            )
            await asyncio.sleep(0.5)  # the tone's last frames, for the figure (not a check)
            heard = recording.samples()
            figures["out_hz"] = dominant_frequency(loud_part(heard, RATE), RATE)
            figures["out_loud_ms"] = loud_ms(heard)
            assert figures["out_hz"] == pytest.approx(523.25, abs=2)
            assert figures["out_loud_ms"] >= 0.9 * 2000, f"heard {figures['out_loud_ms']} ms"

            if PID:
                # what `podman stop` / the kubelet sends, while a stream is open
                stopped_at = time.monotonic()
                os.kill(PID, signal.SIGTERM)
                try:
                    while await stream.receive(timeout=GRACE_S) is not None:
                        pass
                except ClientError:
                    pass  # the stream ended with a status rather than cleanly: also ended
                await wait_until(lambda: process_gone(PID), timeout=GRACE_S, what="the exit")
                figures["stop_s"] = round(time.monotonic() - stopped_at, 2)
                assert figures["stop_s"] < GRACE_S
        if not PID:
            assert (await client.leave("image-check")).success

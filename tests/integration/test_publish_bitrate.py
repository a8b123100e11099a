"""`--publish-bitrate`: the bridge's tracks published with a chosen Opus max bitrate.

At 72 kbit/s and more Opus leaves its speech mode (SILK) for CELT, which costs the encoder
thread about half as much on speech (docs/operations.md); the audio must still arrive whole.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from livekit import rtc

from lkbridge.audio.signal import dominant_frequency, loud_part, loud_spans
from lkbridge.server.config import BridgeConfig
from tests.conftest import BridgeFactory, DeviceFactory
from tests.helpers import heard_to_the_end, wait_until
from tests.support.audio import stream_tone


async def received_bytes(device_room: rtc.Room, publisher: str) -> int:
    """Payload bytes the device has received so far on `publisher`'s audio track."""
    participant = device_room.remote_participants[publisher]
    total = 0
    for publication in participant.track_publications.values():
        if publication.track is not None:
            for stats in await publication.track.get_stats():
                if stats.WhichOneof("stats") == "inbound_rtp":
                    total += stats.inbound_rtp.inbound.bytes_received
    return total


async def test_a_tone_published_at_96_kbps_is_heard_whole_at_its_frequency(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, room_name: str
) -> None:
    bridge = await bridge_factory(publish_bitrate=96_000)
    device = await device_factory(room_name, "device")
    await bridge.join("bitrate", room_name)
    async with bridge.client.stream("bitrate") as stream:
        await stream_tone(stream, 523.25, 3.0)
        recording = await device.wait_for_track("speaker")
        await wait_until(lambda: heard_to_the_end(recording), 10, "the tone's end at the device")
        payload = await received_bytes(device.room, "cloud-agent:bitrate")
    heard = recording.samples()
    assert dominant_frequency(loud_part(heard, 16000), 16000) == pytest.approx(523.25, abs=2)
    loud_ms = sum(end - start for start, end in loud_spans(heard, 16000))
    assert loud_ms >= 2900, f"heard {loud_ms} ms of a 3000 ms tone"
    # The setting took effect: more went over the wire than the SDK's default (48 kbit/s) can
    # carry in the 4 s the track sent, RED's second copy of each packet included (measured:
    # 37 KB at the default, 75 KB at 96 kbit/s).
    assert payload > 2 * 48_000 / 8 * 4.0, f"{payload} bytes for 3 s of tone and what followed"


async def test_no_publish_red_sends_each_frame_once(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, room_name: str
) -> None:
    """`--no-publish-red` takes effect: RED's second copy of each frame is gone from the wire
    (bench/field.py measured about 100 kbit/s at the phone with RED, 50 without, on speech)."""
    payloads = {}
    for red in (True, False):
        room = f"{room_name}-{int(red)}"
        bridge = await bridge_factory(publish_red=red)
        device = await device_factory(room, "device")
        await bridge.join(f"red{int(red)}", room)
        async with bridge.client.stream(f"red{int(red)}") as stream:
            await stream_tone(stream, 523.25, 3.0)
            recording = await device.wait_for_track("speaker")
            await wait_until(lambda r=recording: heard_to_the_end(r), 10, "the tone's end")
            payloads[red] = await received_bytes(device.room, f"cloud-agent:red{int(red)}")
        heard = recording.samples()
        assert dominant_frequency(loud_part(heard, 16000), 16000) == pytest.approx(523.25, abs=2)
    assert payloads[False] < 0.7 * payloads[True], payloads


@pytest.mark.parametrize("bitrate", [1_000, 600_000])
def test_an_impossible_bitrate_is_refused(bitrate: int) -> None:
    message = "publish bitrate must be 0 or 6000-510000 bit/s"
    with pytest.raises(ValueError) as err:
        BridgeConfig(publish_bitrate=bitrate)
    assert str(err.value) == message
    result = subprocess.run(
        [sys.executable, "-m", "lkbridge", "serve", "--publish-bitrate", str(bitrate)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr

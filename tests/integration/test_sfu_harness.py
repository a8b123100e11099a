"""Proof that the harness is real: two SDK peers talk through the real livekit-server."""

from __future__ import annotations

from lkbridge.audio.pcm import strip_device_header, to_int16
from lkbridge.audio.signal import dominant_frequency, loud_part, rms, tone
from tests.conftest import DeviceFactory


async def test_data_packets_cross_the_sfu(device_factory: DeviceFactory, room_name: str) -> None:
    sender = await device_factory(room_name, "glasses")
    receiver = await device_factory(room_name, "listener")
    signal = tone(440, 1.0, 16000)
    sent = await sender.send_packets(signal, chunk_ms=100, realtime=False)

    packets = await receiver.wait_for_packets(len(sent))
    assert [p.data for p in packets] == [packet for _, packet in sent]
    assert all(len(p.data) % 2 == 1 for p in packets), "device packets carry a 1-byte header"
    assert {p.sender for p in packets} == {"glasses"}
    pcm = b"".join(strip_device_header(p.data) for p in packets)
    assert len(pcm) == 2 * len(signal)
    assert abs(dominant_frequency(to_int16(pcm), 16000) - 440) < 1


async def test_audio_track_crosses_the_sfu(device_factory: DeviceFactory, room_name: str) -> None:
    publisher = await device_factory(room_name, "speaker-peer")
    listener = await device_factory(room_name, "listener")
    await publisher.publish_audio("mic", tone(440, 2.0, 16000, amplitude=0.5))

    recording = await listener.wait_for_track("mic")
    heard = recording.samples()
    loud = loud_part(heard, 16000)
    assert len(loud) > 16000 * 0.5, f"heard only {len(loud)} non-silent samples"
    assert abs(dominant_frequency(loud, 16000) - 440) <= 5
    # a 0.5 amplitude sine has an RMS of about 0.35 of full scale; the codec keeps it near that
    assert 0.2 * 32768 < rms(loud) < 0.5 * 32768

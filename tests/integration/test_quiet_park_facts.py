"""SDK facts behind `--track-quiet-ms` being off by default (livekit 1.2.1, real SFU).

Parking a quiet track is worth it only if it can be done without leaving anything behind. These
pin down what the SDK offers (docs/operations.md, "Quiet tracks"; bench/quiet_park.py measures the
same with CPU figures):
- every publication gets its own libwebrtc encoder queue thread (`AudioEncoderQue`), and an
  unpublish does not end it while the room stays connected, whether the next publication uses a
  new track or the very same LocalAudioTrack;
- a muted track keeps its encoder running on the source's silence: mute saves nothing;
- a source without a queue (`queue_size_ms=0`) has no 10 ms timer thread, and its encoder does
  nothing while nothing is captured.
When the first test fails after an SDK upgrade, parking may have stopped leaking: rerun
`bench.quiet_park` and reconsider the default.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from livekit import rtc

from lkbridge.audio.pcm import to_bytes
from lkbridge.devstack.threads import cpu_ns, named
from tests.conftest import DeviceFactory, LiveKitEnv
from tests.helpers import wait_until

RATE = 16000
ENCODER, CAPTURE = "AudioEncoderQue", "AudioSourceCapt"
CYCLES = 6


async def publisher(livekit: LiveKitEnv, room_name: str) -> rtc.Room:
    room = rtc.Room()
    await room.connect(
        livekit.url, livekit.token(room_name, "publisher"), rtc.RoomOptions(auto_subscribe=False)
    )
    return room


async def publish(room: rtc.Room, track: rtc.LocalAudioTrack) -> rtc.LocalTrackPublication:
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    return await room.local_participant.publish_track(track, options)


@pytest.mark.parametrize("reuse", [False, True], ids=["new-track", "same-track"])
async def test_each_unpublish_and_publish_leaves_an_encoder_thread(
    livekit_server: LiveKitEnv, device_factory: DeviceFactory, room_name: str, reuse: bool
) -> None:
    device = await device_factory(room_name, "device")
    room = await publisher(livekit_server, room_name)
    source = rtc.AudioSource(RATE, 1, queue_size_ms=1000)
    before = named(ENCODER)
    try:
        track = rtc.LocalAudioTrack.create_audio_track("speaker", source)
        counts = []
        for _ in range(CYCLES):
            # each cycle negotiated through to the device, as a park after a quiet spell is
            # (a publication unpublished before its negotiation ends may get no sender at all)
            publication = await publish(room, track)
            await asyncio.wait_for(publication.wait_for_subscription(), 10)
            counts.append(len(named(ENCODER) - before))
            await room.local_participant.unpublish_track(publication.sid)
            await wait_until(
                lambda: not device.room.remote_participants["publisher"].track_publications,
                10,
                "the device to see it go",
            )
            if not reuse:
                track = rtc.LocalAudioTrack.create_audio_track("speaker", source)
        # a park that left nothing behind would hold this at counts[0] (+1 at most)
        assert counts[-1] == counts[0] + CYCLES - 1, (
            f"encoder threads by cycle {counts}: the SDK no longer keeps one per unpublished "
            "publication; rerun bench.quiet_park and reconsider --track-quiet-ms's default"
        )
    finally:
        await source.aclose()
        await room.disconnect()
    # they belong to the room's peer connection: leaving it ends them
    for _ in range(100):
        if not named(ENCODER) - before:
            break
        await asyncio.sleep(0.1)
    assert not named(ENCODER) - before, "the encoder threads outlived the room"


async def test_a_muted_track_still_encodes_and_a_source_without_queue_does_not(
    livekit_server: LiveKitEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    """Nothing is captured into either track; only the queued source's timer feeds silence."""
    await device_factory(room_name, "device")
    room = await publisher(livekit_server, room_name)
    captures, encoders = named(CAPTURE), named(ENCODER)
    queued = rtc.AudioSource(RATE, 1, queue_size_ms=1000)
    direct = rtc.AudioSource(RATE, 1, queue_size_ms=0)
    try:
        muted_track = rtc.LocalAudioTrack.create_audio_track("muted", queued)
        publication = await publish(room, muted_track)
        await asyncio.wait_for(publication.wait_for_subscription(), 10)
        await wait_until(lambda: named(ENCODER) - encoders, 10, "the first encoder thread")
        muted_encoder = named(ENCODER) - encoders
        direct_track = rtc.LocalAudioTrack.create_audio_track("direct", direct)
        publication = await publish(room, direct_track)
        await asyncio.wait_for(publication.wait_for_subscription(), 10)
        await wait_until(
            lambda: named(ENCODER) - encoders - muted_encoder, 10, "the second encoder thread"
        )
        direct_encoder = named(ENCODER) - encoders - muted_encoder
        assert len(muted_encoder) == 1 and len(direct_encoder) == 1
        # one 10 ms frame through the direct source: it works without a timer
        frame = np.zeros(RATE // 100, dtype=np.int16)
        await direct.capture_frame(rtc.AudioFrame(to_bytes(frame), RATE, 1, len(frame)))
        # the queued source made a timer thread; the direct one none
        assert len(named(CAPTURE) - captures) == 1
        muted_track.mute()
        await asyncio.sleep(0.5)  # past the publication's first packets
        m0, d0 = cpu_ns(muted_encoder), cpu_ns(direct_encoder)
        await asyncio.sleep(2.0)
        muted_ns, direct_ns = cpu_ns(muted_encoder) - m0, cpu_ns(direct_encoder) - d0
        # measured: muted about 1.2-1.5 % of a core, direct about 0.00 % (well under 1 %)
        assert muted_ns > 0
        assert direct_ns * 10 < muted_ns, (muted_ns, direct_ns)
    finally:
        await queued.aclose()
        await direct.aclose()
        await room.disconnect()

"""Facts about the installed livekit SDK that the bridge's design and figures rest on.

Checked against the real SDK and SFU, so an SDK upgrade that changes one is caught here rather
than in a benchmark nobody reruns.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from livekit import rtc

from lkbridge.audio.pcm import to_bytes
from lkbridge.audio.signal import dominant_frequency, loud_part, loud_spans, tone
from tests.conftest import DeviceFactory

RATE = 16000
FRAME = RATE // 10  # 100 ms, as the bridge captures streamed chunks


async def test_capture_frame_takes_the_audio_before_it_first_awaits(
    device_factory: DeviceFactory, room_name: str
) -> None:
    """The bridge counts a chunk as delivered when `capture_frame` is called, not when it returns.

    That holds only if the SDK copies the samples into its native side in the call's synchronous
    part: the await that follows is the callback thread's acknowledgement. Here every frame's
    buffer is zeroed right after that part has run; the listener must still hear the tone.
    """
    talker = await device_factory(room_name, "talker")
    listener = await device_factory(room_name, "listener")
    source = rtc.AudioSource(RATE, 1, queue_size_ms=1000)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await talker.room.local_participant.publish_track(track, options)
    recording = await listener.wait_for_track("mic")

    signal = tone(440, 1.0, RATE)
    for start in range(0, len(signal), FRAME):
        pcm = bytearray(to_bytes(signal[start : start + FRAME]))  # writable, unlike bytes
        frame = rtc.AudioFrame(pcm, RATE, 1, FRAME)
        capture = asyncio.ensure_future(source.capture_frame(frame))
        await asyncio.sleep(0)  # the capture runs up to its first await
        frame.data[:] = np.zeros(FRAME, dtype=np.int16)  # what it had not taken is gone
        await capture
    await source.wait_for_playout()
    await asyncio.sleep(0.5)

    heard = recording.samples()
    loud_ms = sum(end - start for start, end in loud_spans(heard, RATE))
    assert loud_ms >= 900, f"heard {loud_ms} ms of the 1000 ms tone"
    assert dominant_frequency(loud_part(heard, RATE), RATE) == pytest.approx(440, abs=2)
    await source.aclose()

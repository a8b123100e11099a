"""Facts about the installed livekit SDK that the bridge's design and figures rest on.

Checked against the real SDK and SFU, so an SDK upgrade that changes one is caught here rather
than in a benchmark nobody reruns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.rtc import _ffi_client

from lkbridge.audio.pcm import to_bytes
from lkbridge.audio.signal import dominant_frequency, loud_part, loud_spans, tone
from tests.conftest import DeviceFactory
from tests.helpers import wait_until

RATE = 16000
FRAME = RATE // 10  # 100 ms, as the bridge captures streamed chunks


@pytest.mark.parametrize(
    "zeroed,heard_ms",
    [("right after the request", (900, 1100)), ("before the call", (0, 0))],
)
async def test_capture_frame_takes_the_audio_in_its_request(
    device_factory: DeviceFactory,
    room_name: str,
    monkeypatch: pytest.MonkeyPatch,
    zeroed: str,
    heard_ms: tuple[int, int],
) -> None:
    """The bridge counts a chunk as handed over when `capture_frame` is called.

    That holds only if the SDK takes the samples in the call's synchronous FFI request, not
    later in the native task it spawns or after the acknowledgement. Each frame's buffer is
    zeroed the moment the request returns: the listener must still hear the whole tone. The
    control zeroes it before the call, to show the zeroing reaches the buffer the SDK reads.
    """
    talker = await device_factory(room_name, "talker")
    listener = await device_factory(room_name, "listener")
    source = rtc.AudioSource(RATE, 1, queue_size_ms=1000)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await talker.room.local_participant.publish_track(track, options)
    recording = await listener.wait_for_track("mic")

    client = _ffi_client.FfiClient.instance
    request = client.request
    pending: list[rtc.AudioFrame] = []
    silence = np.zeros(FRAME, dtype=np.int16)

    def request_then_zero(req: Any) -> Any:
        response = request(req)
        if req.WhichOneof("message") == "capture_audio_frame" and pending:
            pending.pop().data[:] = silence
        return response

    monkeypatch.setattr(client, "request", request_then_zero)
    signal = tone(440, 1.0, RATE)
    frames_before = len(recording.parts)
    for start in range(0, len(signal), FRAME):
        pcm = bytearray(to_bytes(signal[start : start + FRAME]))  # writable, unlike bytes
        frame = rtc.AudioFrame(pcm, RATE, 1, FRAME)
        if zeroed == "before the call":
            frame.data[:] = silence
        else:
            pending.append(frame)
        await source.capture_frame(frame)
    await source.wait_for_playout()
    # the listener receives frames without a gap, loud or not: 1.5 s of them since the first
    # capture hold the whole tone and its way through the SFU (the control hears silence)
    await wait_until(
        lambda: sum(map(len, recording.parts[frames_before:])) >= 1.5 * RATE,
        10,
        "1.5 s of audio at the listener since the first capture",
    )
    monkeypatch.undo()

    heard = recording.samples()
    loud_ms = sum(end - start for start, end in loud_spans(heard, RATE))
    low, high = heard_ms
    assert low <= loud_ms <= high, f"heard {loud_ms} ms of the 1000 ms tone, zeroed {zeroed}"
    if loud_ms:
        assert dominant_frequency(loud_part(heard, RATE), RATE) == pytest.approx(440, abs=2)
    await source.aclose()

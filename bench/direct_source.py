"""What a source without a queue would cost N tracks, speaking and quiet, against the queued one.

    sudo .venv/bin/python -m bench.direct_source [--rooms 10] [--phase-s 15] [--repeat 2] \
        [--arms queued direct direct-nowait]

bench/quiet_park.py found one way to make a published track cost nothing while quiet without
leaving a thread behind: an AudioSource with `queue_size_ms=0` has no 10 ms timer, so its encoder
runs only on frames captured into it. Its price is that the caller paces the audio itself in
exactly 10 ms frames (the SDK refuses any other size without a queue), which is 100
`capture_frame` round trips a second per speaking track through the SDK's callback queue, where
the bridge now sends ten 100 ms frames into a 1 s queue. This measures both sides in one process:
N rooms, one track each (72 kbit/s, as the bridge), a tone spoken for PHASE s then nothing for
PHASE s; the arms alternate (queued, direct, ...) REPEAT times. Per phase: the process's CPU, the
encoder threads' and the timer threads' (schedstat), as % of one core. No device subscribes: the
publishing side's cost is what differs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable

import numpy as np
from livekit import rtc
from livekit.rtc._ffi_client import FfiClient
from livekit.rtc._proto import ffi_pb2 as proto_ffi

from lkbridge.audio.pcm import to_bytes
from lkbridge.devstack import netns
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.threads import cpu_ns, named
from lkbridge.devstack.tokens import mint_token

RATE = 16000
ENCODER, CAPTURE = "AudioEncoderQue", "AudioSourceCapt"
# direct-nowait: direct, but each capture request sent without awaiting its acknowledgement
ARMS = ("queued", "direct", "direct-nowait")


def capture_nowait(source: rtc.AudioSource, frame: rtc.AudioFrame) -> None:
    """The capture request alone, its acknowledgement never awaited (SDK internals: a measure of
    what the per-frame round trip costs, not something to ship). The SDK copies the samples
    inside the request (tests/integration/test_sdk_facts.py)."""
    req = proto_ffi.FfiRequest()
    req.capture_audio_frame.source_handle = source._ffi_handle.handle
    req.capture_audio_frame.buffer.CopyFrom(frame._proto_info())
    FfiClient.instance.request(req)


async def capture(source: rtc.AudioSource, frame: rtc.AudioFrame, wait: bool) -> None:
    if wait:
        await source.capture_frame(frame)
    else:
        capture_nowait(source, frame)


async def speak(
    source: rtc.AudioSource, direct: bool, seconds: float, hz: float, wait: bool = True
) -> None:
    """A tone for `seconds`: 10 ms frames paced here (direct), or 100 ms frames into the queue."""
    frame_len = RATE // 100 if direct else RATE // 10
    t = np.arange(frame_len) / RATE
    start = time.monotonic()
    n = int(seconds * RATE / frame_len)
    for i in range(n):
        phase = 2 * np.pi * hz * i * frame_len / RATE
        frame = (np.sin(2 * np.pi * hz * t + phase) * 8000).astype(np.int16)
        await capture(source, rtc.AudioFrame(to_bytes(frame), RATE, 1, frame_len), wait)
        if direct:
            await asyncio.sleep(max(0.0, start + (i + 1) * frame_len / RATE - time.monotonic()))
    if direct:  # 200 ms of silence, then nothing: the listener's concealment ends cleanly
        silence = np.zeros(frame_len, dtype=np.int16)
        for _ in range(20):
            await capture(source, rtc.AudioFrame(to_bytes(silence), RATE, 1, frame_len), wait)
            await asyncio.sleep(0.01)
    else:
        await source.wait_for_playout()


async def measure(what: str, work: Awaitable[object] | None, seconds: float) -> dict[str, float]:
    encoders, captures = named(ENCODER), named(CAPTURE)
    e0, c0, p0, w0 = cpu_ns(encoders), cpu_ns(captures), time.process_time(), time.monotonic()
    if work is not None:
        await work
    else:
        await asyncio.sleep(seconds)
    wall = time.monotonic() - w0
    row = {
        "process": (time.process_time() - p0) / wall * 100,
        "encoders": (cpu_ns(encoders) - e0) / 1e9 / wall * 100,
        "timers": (cpu_ns(captures) - c0) / 1e9 / wall * 100,
    }
    print(f"  {what}: " + ", ".join(f"{k} {v:.1f} %" for k, v in row.items()), flush=True)
    return row


async def arm(livekit: LiveKitServer, name: str, rooms: int, phase_s: float) -> None:
    cfg = livekit.config
    direct = name != "queued"
    joined: list[rtc.Room] = []
    sources: list[rtc.AudioSource] = []
    try:
        for i in range(rooms):
            room = rtc.Room()
            token = mint_token(cfg.api_key, cfg.api_secret, f"direct-{name}-{i}", "bridge")
            await room.connect(cfg.url, token, rtc.RoomOptions(auto_subscribe=False))
            joined.append(room)
            source = rtc.AudioSource(RATE, 1, queue_size_ms=0 if direct else 1000)
            sources.append(source)
            track = rtc.LocalAudioTrack.create_audio_track("speaker", source)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            options.audio_encoding.max_bitrate = 72_000
            await room.local_participant.publish_track(track, options)
        await asyncio.sleep(2.0)  # negotiations settle
        work = asyncio.gather(
            *(
                speak(s, direct, phase_s, 300 + 20 * i, wait=name != "direct-nowait")
                for i, s in enumerate(sources)
            )
        )
        await measure(f"{name} speaking", work, phase_s)
        await measure(f"{name} quiet", None, phase_s)
    finally:
        for source in sources:
            await source.aclose()
        for room in joined:
            await room.disconnect()


async def main_async(rooms: int, phase_s: float, repeat: int, arms: list[str]) -> None:
    with LiveKitServer(LiveKitConfig()) as livekit:
        for _ in range(repeat):
            for name in arms:
                await arm(livekit, name, rooms, phase_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--phase-s", type=float, default=15.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--arms", nargs="+", choices=ARMS, default=["queued", "direct"], help="in this order"
    )
    args = parser.parse_args()
    netns.reexec_inside()
    asyncio.run(main_async(args.rooms, args.phase_s, args.repeat, args.arms))


if __name__ == "__main__":
    main()

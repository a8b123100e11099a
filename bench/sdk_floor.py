"""The SDK-only floor of device -> cloud: N rooms receiving device packets, no bridge around them.

    LIVEKIT_API_SECRET=S python -m bench.sdk_floor URL API_KEY N OUT.json [CONTENT]

`bench/sessions.py --sdk-floor` runs it after each bridge run of the same N, in the same
invocation, while bench/godevices sends the same packets to rooms bench-0 .. bench-N-1. One
process joins every room the way the bridge does (the SDK's native logs kept native, each room's
events routed, data packets taken straight from the callback thread:
lkbridge.server.rtc.runtime), but publishes nothing and writes no gRPC: what is left of the
bridge's `device send -> FFI event` part here is the SFU's, WebRTC's and the Rust SDK's, with
this machine's scheduling. Each packet
is stamped as bench/packet_trace.py stamps the bridge's (`ffi` by the bridge's own tap in
lkbridge.server.rtc.runtime, then `handler`); it says "ready"
once every room is joined and writes the stamps when stdin closes or says "stop".

With CONTENT (bench/workload.py's speech, tone or silence), each room also publishes a track and
captures the workload's client side into it in 100 ms frames, as the bridge does with what its
clients stream (1 s source queue, 72 kbit/s): the SDK's native cost of publishing, without the
bridge's Python and gRPC, so its effect on the receive path shows apart.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import numpy as np
from livekit import rtc

from bench import packet_trace
from bench.workload import workload
from lkbridge import tracing
from lkbridge.audio.pcm import Int16Array, to_bytes
from lkbridge.devstack.tokens import mint_token
from lkbridge.server.rtc.runtime import route_own_events, set_sdk_logs

FRAME = 1600  # 100 ms at 16 kHz


async def receive(url: str, key: str, secret: str, n: int, content: str | None) -> None:
    set_sdk_logs(to_python=False)
    tracing.set_packet_tap(packet_trace.stamp)  # `ffi`: rtc.runtime's data taker stamps it
    rooms = []
    sources: list[rtc.AudioSource] = []
    for i in range(n):
        room = rtc.Room()
        token = mint_token(key, secret, f"bench-{i}", f"floor-{i}")
        await room.connect(url, token, rtc.RoomOptions(auto_subscribe=False))
        route_own_events(room, on_data=_on_data)
        rooms.append(room)
        if content is not None:
            source = rtc.AudioSource(16000, 1, queue_size_ms=1000)
            track = rtc.LocalAudioTrack.create_audio_track("speaker", source)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            options.audio_encoding.max_bitrate = 72_000
            await room.local_participant.publish_track(track, options)
            sources.append(source)
    speakers = []
    if content is not None:
        audio = workload(content, 60.0, 100).client  # type: ignore[arg-type]
        speakers = [asyncio.create_task(_speak(source, audio)) for source in sources]
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "stop", or stdin closed
    for task in speakers:
        task.cancel()
    await asyncio.gather(*speakers, return_exceptions=True)
    for source in sources:
        await source.aclose()
    for room in rooms:
        await room.disconnect()


async def _speak(source: rtc.AudioSource, audio: Int16Array) -> None:
    """The audio in 100 ms frames, round and round, paced by the source's queue."""
    frames = len(audio) // FRAME
    for i in range(10**9):
        chunk = np.ascontiguousarray(audio[(i % frames) * FRAME : (i % frames + 1) * FRAME])
        await source.capture_frame(rtc.AudioFrame(to_bytes(chunk), 16000, 1, FRAME))


def _on_data(data: bytes, sender: str) -> None:
    packet_trace.stamp("handler", data[1:])


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[1] in ("-h", "--help"):
        print("usage: LIVEKIT_API_SECRET=S python -m bench.sdk_floor URL API_KEY N OUT.json "
              "[CONTENT] (bench/sessions.py --sdk-floor runs it)", file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    url, key, n, out = sys.argv[1:5]
    secret = os.environ["LIVEKIT_API_SECRET"]  # not on the command line, where ps shows it
    asyncio.run(receive(url, key, secret, int(n), sys.argv[5] if len(sys.argv) > 5 else None))
    Path(out).write_text(json.dumps(packet_trace.stamps()))

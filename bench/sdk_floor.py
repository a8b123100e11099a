"""The SDK-only floor of device -> cloud: N rooms receiving device packets, no bridge around them.

    python bench/sdk_floor.py URL API_KEY API_SECRET N OUT.json

`bench/sessions.py --sdk-floor` runs it after each bridge run of the same N, in the same
invocation, while bench/godevices sends the same packets to rooms bench-0 .. bench-N-1. One
process joins every room the way the bridge does (the SDK's native logs kept native, each room's
events routed, data packets taken straight from the callback thread: lkbridge.rtcruntime), but
publishes nothing and writes no gRPC: what is left of the bridge's `device send -> FFI event`
part here is the SFU's, WebRTC's and the Rust SDK's, with this machine's scheduling. Each packet
is stamped as bench/packet_trace.py stamps the bridge's (`ffi`, then `handler`); it says "ready"
once every room is joined and writes the stamps when stdin closes or says "stop".
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from livekit import rtc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import packet_trace
from lkbridge.devstack.tokens import mint_token
from lkbridge.rtcruntime import route_own_events, set_sdk_logs


async def receive(url: str, key: str, secret: str, n: int) -> None:
    set_sdk_logs("native")
    rooms = []
    for i in range(n):
        room = rtc.Room()
        token = mint_token(key, secret, f"bench-{i}", f"floor-{i}")
        await room.connect(url, token, rtc.RoomOptions(auto_subscribe=False))
        if i == 0:
            packet_trace.install_ffi_stamp()  # the native side runs from the first room on
        route_own_events(room, on_data=_on_data)
        rooms.append(room)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "stop", or stdin closed
    for room in rooms:
        await room.disconnect()


def _on_data(data: bytes, sender: str) -> None:
    if len(data) >= 11:
        packet_trace.stamp("handler", packet_trace.key_of(data[1:11]))


if __name__ == "__main__":
    url, key, secret, n, out = sys.argv[1:6]
    asyncio.run(receive(url, key, secret, int(n)))
    Path(out).write_text(json.dumps(packet_trace.stamps()))

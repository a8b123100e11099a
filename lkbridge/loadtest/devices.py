"""Device participants for load tests: one SDK peer per room, speaking like the glasses.

Each peer sends 100 ms PCM16 data packets in real time behind the 1-byte header; the first five
samples of every packet carry a sequence number and the send time (devstack/stamp.py), so the
load test's gRPC users measure device -> SFU -> bridge -> client latency and holes per chunk.

    LKBRIDGE_LOADTEST_LIVEKIT_SECRET=S python -m lkbridge.loadtest.devices \\
        --url ws://127.0.0.1:7880 --key K --rooms 20 --prefix load-ab12
Runs until SIGTERM/SIGINT. Rooms are named PREFIX-0 .. PREFIX-(N-1); devices are named device.
Prints "devices ready ..." once every peer is connected, or one error line and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time

from lkbridge.audio.pcm import to_bytes
from lkbridge.audio.signal import tone
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.stamp import stamp
from lkbridge.devstack.tokens import mint_token

CHUNK_MS = 100
SECRET_ENV = "LKBRIDGE_LOADTEST_LIVEKIT_SECRET"  # the scenarios read the same variable


def room_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index}"


async def speak(peer: DevicePeer, stop: asyncio.Event) -> None:
    pcm = to_bytes(tone(440, CHUNK_MS / 1000, amplitude=0.3))
    start = time.monotonic()
    seq = 0
    while not stop.is_set():
        packet = peer.packetize(stamp(pcm, seq, time.time_ns()))
        with contextlib.suppress(Exception):
            await peer.room.local_participant.publish_data(packet, reliable=True)
        seq += 1
        await asyncio.sleep(max(0.0, start + seq * CHUNK_MS / 1000 - time.monotonic()))


async def main(url: str, key: str, secret: str, rooms: int, prefix: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    peers: list[DevicePeer] = []
    try:
        for i in range(rooms):
            token = mint_token(key, secret, room_name(prefix, i), "device")
            peer = DevicePeer(url, token, subscribe=False)
            peers.append(peer)
            await peer.connect()
    except Exception as exc:  # the one line the load test's runner shows
        print(f"devices: cannot connect to {url}: {exc}", file=sys.stderr, flush=True)
        for peer in peers:
            await peer.aclose()
        return 1
    print(f"devices ready in {rooms} rooms", flush=True)
    speakers = [loop.create_task(speak(p, stop)) for p in peers]
    await stop.wait()
    await asyncio.gather(*speakers, return_exceptions=True)
    for peer in peers:
        await peer.aclose()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument(
        "--secret", default=os.environ.get(SECRET_ENV), help=f"API secret (default: ${SECRET_ENV})"
    )
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--prefix", default="load")
    args = parser.parse_args()
    if not args.secret:
        parser.error(f"the API secret: ${SECRET_ENV} or --secret")
    raise SystemExit(asyncio.run(main(args.url, args.key, args.secret, args.rooms, args.prefix)))

"""Device participants for load tests: one SDK peer per room, speaking like the glasses.

Each peer sends 100 ms PCM16 data packets in real time with the 1-byte header; the first four
samples of every packet carry the send time (Unix ns, little-endian int64), so the load test's
gRPC users measure device -> SFU -> bridge -> client latency per chunk on one machine's clock.

    python loadtests/devices.py --url ws://127.0.0.1:7880 --key K --secret S --rooms 20
Runs until SIGTERM/SIGINT. Rooms are named load-0 .. load-(N-1); devices are named device.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lkbridge.audio.pcm import to_bytes
from lkbridge.audio.signal import tone
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.tokens import mint_token

CHUNK_MS = 100
STAMP_BYTES = 8


def stamp(pcm: bytes, now_ns: int) -> bytes:
    return struct.pack("<q", now_ns) + pcm[STAMP_BYTES:]


def read_stamp(pcm: bytes) -> int:
    return int(struct.unpack("<q", pcm[:STAMP_BYTES])[0]) if len(pcm) >= STAMP_BYTES else 0


def room_name(index: int) -> str:
    return f"load-{index}"


async def speak(peer: DevicePeer, stop: asyncio.Event) -> None:
    pcm = to_bytes(tone(440, CHUNK_MS / 1000, amplitude=0.3))
    start = time.monotonic()
    i = 0
    while not stop.is_set():
        packet = peer.packetize(stamp(pcm, time.time_ns()))
        with contextlib.suppress(Exception):
            await peer.room.local_participant.publish_data(packet, reliable=True)
        i += 1
        await asyncio.sleep(max(0.0, start + i * CHUNK_MS / 1000 - time.monotonic()))


async def main(url: str, key: str, secret: str, rooms: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    peers = []
    for i in range(rooms):
        peer = DevicePeer(url, mint_token(key, secret, room_name(i), "device"), subscribe=False)
        await peer.connect()
        peers.append(peer)
    print(f"devices ready in {rooms} rooms", flush=True)
    speakers = [loop.create_task(speak(p, stop)) for p in peers]
    await stop.wait()
    await asyncio.gather(*speakers, return_exceptions=True)
    for peer in peers:
        await peer.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--rooms", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.key, args.secret, args.rooms))

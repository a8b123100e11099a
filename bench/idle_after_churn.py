"""Fast churn with device packets in flight, then the bridge's CPU with no session left.

    sudo .venv/bin/python -m bench.idle_after_churn --rooms 6 --leaves 1800
    sudo .venv/bin/python -m bench.idle_after_churn --bridge-src /tmp/old   # an older checkout

Each room's device sends a 10 ms data packet every 10 ms for the whole run; in each room a user
joins, opens its stream, stays 0.1-0.6 s, and leaves (every other time cancelling its stream
first), over and over. After every 50 leaves a room, with no session left and the devices still
sending, it prints the bridge's CPU over 3 s: an idle bridge is at 0-1 %. A loop left spinning
by a room that ended while a packet waited behind its events (fixed in server/rtc/runtime.py,
InOrder) showed as 50-65 % from the first rounds on. Run from the checkout's root as root (it
enters the project's network namespace by itself). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from pathlib import Path

import numpy as np
import psutil

from bench.sessions import DEFAULTS, start_bridge
from lkbridge.client import BridgeClient
from lkbridge.devstack import netns
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.tokens import mint_token

ROUND = 50  # leaves per room between two idle readings


async def send_packets(device: DevicePeer) -> None:
    silence = np.zeros(160, dtype=np.int16).tobytes()  # 10 ms at 16 kHz
    while True:
        await device.room.local_participant.publish_data(device.packetize(silence), reliable=True)
        await asyncio.sleep(0.01)


async def churn(client: BridgeClient, cfg: LiveKitConfig, room: int, leaves: int) -> None:
    user = f"u{room}"
    for n in range(leaves):
        token = mint_token(cfg.api_key, cfg.api_secret, f"churn-{room}", f"cloud-agent:{user}")
        joined = await client.join(user, token=token, livekit_url=cfg.url, target_identity="device")
        if not joined.success:
            raise RuntimeError(joined.error)
        stream = client.stream(user)
        await stream.open()
        await asyncio.sleep(random.uniform(0.1, 0.6))
        if n % 2:
            stream.cancel()
        await client.leave(user)
        stream.cancel()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rooms", type=int, default=6)
    parser.add_argument("--leaves", type=int, default=1800, help="in all, over every room")
    parser.add_argument("--bridge-src", type=Path, help="run this checkout's lkbridge instead")
    args = parser.parse_args()
    with LiveKitServer(LiveKitConfig()) as livekit:
        cfg = livekit.config
        bridge = start_bridge(DEFAULTS, ("--max-cpu=0",), source=args.bridge_src)
        proc = psutil.Process(bridge.pid)
        devices: list[DevicePeer] = []
        senders: list[asyncio.Task[None]] = []
        client = BridgeClient(bridge.target)
        try:
            for room in range(args.rooms):
                token = mint_token(cfg.api_key, cfg.api_secret, f"churn-{room}", "device")
                devices.append(device := DevicePeer(cfg.url, token, subscribe=False))
                await device.connect()
                senders.append(asyncio.create_task(send_packets(device)))
            started, done = time.monotonic(), 0
            while done < args.leaves:
                await asyncio.gather(*(churn(client, cfg, r, ROUND) for r in range(args.rooms)))
                done += ROUND * args.rooms
                proc.cpu_percent()
                await asyncio.sleep(3.0)
                print(
                    f"{time.monotonic() - started:.0f} s: {done} leaves; no session, the devices "
                    f"still sending: bridge CPU {proc.cpu_percent():.0f} % of a core",
                    flush=True,
                )
        finally:
            for task in senders:
                task.cancel()
            await client.aclose()
            for device in devices:
                await device.aclose()
            bridge.stop()


if __name__ == "__main__":
    netns.reexec_inside()
    asyncio.run(main())

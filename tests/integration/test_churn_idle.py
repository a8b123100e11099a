"""Churn leaves nothing running: after hundreds of joins and leaves with device packets in
flight, a bridge with no session is idle.

A room whose SDK task ended while a data packet waited behind its queued events used to leave
the bridge's loop spinning for the rest of the process's life (server/rtc/runtime.py, InOrder):
a two-hour churn soak found the loop at 100 % of a core after about 780 leaves, and
bench/idle_after_churn.py, which this test follows, after 300 (98 % of a core idle).
"""

from __future__ import annotations

import asyncio
import random

import numpy as np
import psutil

from lkbridge.client import BridgeClient
from lkbridge.devstack.device import DevicePeer
from tests.conftest import DeviceFactory, LiveKitEnv
from tests.support.serving import ServeProcess, serve_process, start_serve

__all__ = ["serve_process"]  # the fixture, imported for this module

ROOMS, LEAVES = 6, 50  # 300 leaves in all


async def send_packets(device: DevicePeer) -> None:
    silence = np.zeros(160, dtype=np.int16).tobytes()  # 10 ms, every 10 ms
    while True:
        await device.room.local_participant.publish_data(device.packetize(silence), reliable=True)
        await asyncio.sleep(0.01)


async def churn(client: BridgeClient, livekit: LiveKitEnv, room: str, user: str) -> None:
    for n in range(LEAVES):
        joined = await client.join(
            user,
            token=livekit.token(room, f"cloud-agent:{user}"),
            livekit_url=livekit.url,
            target_identity="device",
        )
        assert joined.success, joined.error
        stream = client.stream(user)
        await stream.open()
        await asyncio.sleep(random.uniform(0.1, 0.4))
        if n % 2:
            stream.cancel()  # the stream's end closes the session; or the LeaveRoom does
        await client.leave(user)
        stream.cancel()


async def test_after_300_leaves_with_packets_in_flight_a_bridge_without_sessions_is_idle(
    serve_process: list[ServeProcess],
    livekit_server: LiveKitEnv,
    device_factory: DeviceFactory,
    room_name: str,
) -> None:
    served = start_serve("--port", "0", "--log-level", "warning", "--max-cpu", "0")
    serve_process.append(served)
    client = BridgeClient(served.target)
    rooms = [f"{room_name}-{i}" for i in range(ROOMS)]
    devices = [await device_factory(room, "device") for room in rooms]
    senders = [asyncio.create_task(send_packets(device)) for device in devices]
    try:
        await asyncio.gather(
            *(churn(client, livekit_server, room, f"u{i}") for i, room in enumerate(rooms))
        )
        assert (await client.health()).active_sessions == 0
        proc = psutil.Process(served.pid)
        await asyncio.sleep(1.0)  # the last leaves' own work done
        before = proc.cpu_times()
        await asyncio.sleep(3.0)  # the devices still sending, to rooms with no bridge in them
        after = proc.cpu_times()
    finally:
        for task in senders:
            task.cancel()
        await client.aclose()
    busy = (after.user + after.system - before.user - before.system) / 3.0
    # an idle bridge: about 1 % of a core; a loop left spinning: 50-100 %
    assert busy < 0.2, f"the bridge used {busy:.0%} of a core with no session"

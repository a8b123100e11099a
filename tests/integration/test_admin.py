"""The admin service and the metrics endpoint against a real bridge with real sessions."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lkbridge.audio.pcm import to_bytes
from lkbridge.audio.signal import tone
from lkbridge.client import BridgeClient
from lkbridge.errors import ClientError
from tests.conftest import BridgeFactory, DeviceFactory
from tests.helpers import wait_for


async def test_watch_stats_and_list_sessions(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, room_name: str
) -> None:
    bridge = await bridge_factory(metrics_port=0)
    device = await device_factory(room_name, "device")
    await bridge.join("adm1", room_name)
    await bridge.join("adm2", room_name)
    async with bridge.client.stream("adm1") as stream:
        sender = asyncio.create_task(device.send_packets(tone(440, 3.0), chunk_ms=100))

        async def cloud_sends() -> None:
            for _ in range(30):
                await stream.send(to_bytes(tone(300, 0.1)))
                await asyncio.sleep(0.1)  # models time: the cloud streams at real-time pace

        cloud = asyncio.create_task(cloud_sends())

        async def flowing() -> bool:
            listed = {s.user_id: s for s in await bridge.client.list_sessions()}
            return listed["adm1"].frames_in > 0 and listed["adm1"].frames_out > 0

        await wait_for(flowing, 10, "audio to flow both ways through adm1")
        snapshots = []
        async for snapshot in bridge.client.watch_stats(interval_ms=500):
            snapshots.append(snapshot)
            if len(snapshots) == 3:
                break
        health = await bridge.client.health()
        status = await bridge.client.status("adm1")
        listed = {s.user_id: s for s in await bridge.client.list_sessions()}
        metrics_text = await asyncio.to_thread(
            lambda: (
                urllib.request.urlopen(
                    f"http://127.0.0.1:{bridge.server.metrics_port}/metrics", timeout=5
                )
                .read()
                .decode()
            )
        )
        await sender
        await cloud
    last = snapshots[-1]
    assert last.totals.sessions == health.active_sessions == 2
    assert last.totals.streams == health.active_streams == 1
    assert (last.totals.max_sessions, last.totals.max_joins_in_flight) == (20, 8)
    assert last.process.rss_mb > 10 and last.process.tasks > 0 and last.process.threads > 0
    assert last.process.version == health.metadata["version"]
    by_user = {s.user_id: s for s in last.sessions}
    one = by_user["adm1"]
    assert one.connected and one.stream_open and one.room == room_name
    assert one.participant_count == status.participant_count >= 2
    assert list(one.tracks) == ["speaker"]
    assert one.frames_in >= 10 and one.frames_out > 0
    assert one.frames_in_per_s > 3, "about 10 chunks/s came in while the snapshots were taken"
    assert not by_user["adm2"].stream_open
    assert set(listed) == {"adm1", "adm2"}

    families = {f.name: f for f in text_string_to_metric_families(metrics_text)}
    value = {name: fam.samples[0].value for name, fam in families.items()}
    assert value["lkbridge_sessions"] == 2
    assert value["lkbridge_streams"] == 1
    assert (value["lkbridge_max_sessions"], value["lkbridge_max_joins_in_flight"]) == (20, 8)
    assert (value["lkbridge_joins_in_flight"], families["lkbridge_joins_refused"].type) == (
        0,
        "counter",
    )
    assert value["lkbridge_resident_memory_bytes"] > 10 * 2**20
    assert families["lkbridge_build_info"].samples[0].labels["version"] == last.process.version
    assert families["lkbridge_errors"].type == "counter"  # the parser strips _total


async def test_admin_needs_the_token_when_auth_is_on(bridge_factory: BridgeFactory) -> None:
    bridge = await bridge_factory(auth_token="admin-secret-token")
    assert await bridge.client.list_sessions() == []
    async with BridgeClient(bridge.target) as anonymous:
        with pytest.raises(ClientError) as err:
            await anonymous.list_sessions()
        assert err.value.code == "UNAUTHENTICATED"
        with pytest.raises(ClientError) as err:
            async for _ in anonymous.watch_stats():
                pass
        assert err.value.code == "UNAUTHENTICATED"

"""The bridge's packet taps (lkbridge/tracing.py): every stage of a real session calls them.

bench/packet_trace.py relies on these instead of wrapping private methods; a rename in server/
or rtc/runtime.py that drops a stage fails here, not silently in a benchmark's figures.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from lkbridge import tracing
from lkbridge.audio.pcm import to_bytes
from lkbridge.audio.signal import tone
from lkbridge.devstack.stamp import sent_ns, stamp
from tests.conftest import BridgeEnv, DeviceFactory


@pytest.fixture
def taps() -> Iterator[dict[str, dict[int, int]]]:
    seen: dict[str, dict[int, int]] = {stage: {} for stage in tracing.STAGES}
    lock = threading.Lock()  # "ffi" comes from the SDK's callback thread

    def tap(stage: tracing.Stage, pcm: bytes) -> None:
        key = sent_ns(pcm)
        if key is not None:
            with lock:
                seen[stage][key] = time.perf_counter_ns()

    tracing.set_packet_tap(tap)
    try:
        yield seen
    finally:
        tracing.set_packet_tap(None)


async def test_every_stage_taps_every_device_packet(
    bridge: BridgeEnv,
    device_factory: DeviceFactory,
    room_name: str,
    taps: dict[str, dict[int, int]],
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("traced", room_name, target_identity="device")
    pcm = to_bytes(tone(440, 0.1, 16000))
    async with bridge.client.stream("traced") as stream:
        keys = []
        for seq in range(8):
            key = time.time_ns()
            keys.append(key)
            packet = device.packetize(stamp(pcm, seq, key))
            await device.room.local_participant.publish_data(packet, reliable=True)
            await asyncio.sleep(0.1)
        received: list[int | None] = []
        while len(received) < len(keys):
            chunk = await asyncio.wait_for(stream.receive(), 10)
            assert chunk is not None
            received.append(sent_ns(chunk.pcm_data))
    assert received == keys
    for key in keys:
        at = [taps[stage].get(key) for stage in tracing.STAGES]
        assert None not in at, f"packet {key}: stages {dict(zip(tracing.STAGES, at, strict=True))}"
        assert at == sorted(at), "ffi, handler, write, written: in that order"  # type: ignore[type-var]

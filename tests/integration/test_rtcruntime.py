"""The SDK corrections of lkbridge.server.rtc.runtime, checked against the installed SDK and a
real SFU.

They reach into livekit.rtc's private parts, so these tests are also the alarm for an SDK
upgrade that changes them: each would then quietly fall back to the SDK's own (costlier) way.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from livekit.rtc import _ffi_client

from lkbridge.audio.pcm import to_int16
from lkbridge.audio.signal import dominant_frequency, tone
from lkbridge.devstack.device import DevicePeer
from lkbridge.server.rtc.runtime import route_own_events, set_sdk_logs
from tests.conftest import DeviceFactory, LiveKitEnv
from tests.helpers import wait_until


def watch_listener(peer: DevicePeer) -> list[Any]:
    """Every event the SDK hands to this room's listener, from now on."""
    seen: list[Any] = []
    queue = peer.room._ffi_queue
    deliver = queue.put_nowait

    def recording(event: Any) -> None:
        seen.append(event)
        deliver(event)

    queue.put_nowait = recording
    return seen


async def test_a_room_listener_sees_its_own_room_only(
    device_factory: DeviceFactory, room_name: str
) -> None:
    talker = await device_factory(f"{room_name}-a", "talker")
    listener = await device_factory(f"{room_name}-a", "listener")
    other = await device_factory(f"{room_name}-b", "other")
    await device_factory(f"{room_name}-b", "other-listener")
    assert route_own_events(listener.room)  # the SDK still has the shape this relies on
    own_handle = listener.room._ffi_handle.handle  # type: ignore[union-attr]
    seen = watch_listener(listener)

    # The other room: data packets, a published track and its capture callbacks.
    await asyncio.gather(
        other.send_packets(tone(500, 0.5), chunk_ms=100),
        other.publish_audio("mic", tone(500, 0.5)),  # publish_track's callback must get through
        talker.send_packets(tone(300, 0.3), chunk_ms=100),
    )
    await listener.wait_for_packets(3)

    kinds = {event.WhichOneof("message") for event in seen}
    assert not kinds & {"capture_audio_frame", "publish_data"}, kinds
    rooms = {e.room_event.room_handle for e in seen if e.WhichOneof("message") == "room_event"}
    assert rooms == {own_handle}
    assert [p.sender for p in listener.packets] == ["talker"] * 3


async def test_data_packets_taken_past_the_room_task_arrive_whole_in_order(
    device_factory: DeviceFactory, room_name: str
) -> None:
    """A routed room's data packets reach `on_data` with their sender, byte for byte and in
    order, in the room's loop; the room no longer emits `data_received` for them."""
    talker = await device_factory(room_name, "talker")
    listener = await device_factory(room_name, "listener")
    got: list[tuple[bytes, str]] = []
    assert route_own_events(listener.room, on_data=lambda data, sender: got.append((data, sender)))

    sent = await talker.send_packets(tone(440, 1.0), chunk_ms=100)
    await wait_until(lambda: len(got) >= len(sent), 5, f"the {len(sent)} packets at on_data")
    assert [data for data, _ in got] == [packet for _, packet in sent]
    assert {sender for _, sender in got} == {"talker"}
    assert listener.packets == []  # nothing went through the SDK's emitter as well
    heard = to_int16(b"".join(data[1:] for data, _ in got))  # the 1-byte header off
    assert dominant_frequency(heard, 16000) == pytest.approx(440, abs=5)


@pytest.fixture
def log_records() -> Iterator[list[int]]:
    """Levels of the native log records that reach Python."""
    levels: list[int] = []
    original = _ffi_client.to_python_level

    def counting(level: Any) -> Any:
        levels.append(level)
        return original(level)

    _ffi_client.to_python_level = counting
    yield levels
    _ffi_client.to_python_level = original
    set_sdk_logs(to_python=False)


async def test_native_log_records_stay_native(
    device_factory: DeviceFactory, room_name: str, log_records: list[int]
) -> None:
    set_sdk_logs(to_python=True)
    first = await device_factory(room_name, "first")
    await first.send_packets(tone(400, 1.5), chunk_ms=100)  # the native side logs as it works
    # it ships records in batches, at least once a second
    await wait_until(lambda: log_records, 5, "native log records to reach Python")

    assert set_sdk_logs(to_python=False)
    # models time: whatever was batched before the switch arrives within a batch period (1 s);
    # nothing observable says the last batch has come
    await asyncio.sleep(1.2)
    log_records.clear()
    second = await device_factory(f"{room_name}-2", "second")
    await second.send_packets(tone(400, 1.5), chunk_ms=100)
    await asyncio.sleep(1.2)  # models time: a batch period passes, and nothing arrives in it
    assert log_records == []


LATE_START = """
import asyncio, sys
from livekit.rtc import _ffi_client
from lkbridge.audio.pcm import to_int16
from lkbridge.audio.signal import dominant_frequency, tone
from lkbridge.devstack.device import DevicePeer
from lkbridge.server.rtc.runtime import set_sdk_logs

levels = []
original = _ffi_client.to_python_level
_ffi_client.to_python_level = lambda level: levels.append(level) or original(level)

async def main(url, token, where):
    assert set_sdk_logs(to_python=where == "python")
    assert _ffi_client.FfiClient._instance is None, "the switch started the native side"
    peer = DevicePeer(url, token)
    await peer.connect()
    await peer.send_packets(tone(400, 1.5), chunk_ms=100)
    # models time: records are shipped in batches, at least once a second (counted after one;
    # with "native" the count must stay near 0, which no wait on state can show)
    await asyncio.sleep(1.2)
    await peer.aclose()
    print(len(levels))

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("where", "at_least", "at_most"), [("native", 0, 5), ("python", 100, None)]
)
async def test_the_log_switch_holds_when_set_before_the_native_side_starts(
    livekit_server: LiveKitEnv,
    room_name: str,
    where: str,
    at_least: int,
    at_most: int | None,
) -> None:
    """An idle bridge does not start the SDK's native side; the first room starts it, and the
    switch chosen earlier applies from that moment (a fresh process: this one started it).

    Measured: 2 records with "native" (logged as the native side starts, before the switch
    applies, as they were when the bridge started it at once), 1,340 with "python".
    """
    token = livekit_server.token(room_name, "late")
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", LATE_START, livekit_server.url, token, where],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    records = int(result.stdout.split()[-1])
    assert records >= at_least, f"{records} native log records reached Python"
    assert at_most is None or records <= at_most, f"{records} native log records reached Python"

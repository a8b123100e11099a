"""The per-room event filter: what a room listener keeps, what it is spared, and the data
packets taken past it."""

from __future__ import annotations

import asyncio
import ctypes
import threading

import pytest
from livekit.rtc._proto import ffi_pb2

from lkbridge.server.rtc.runtime import InOrder, data_taker, room_filter
from tests.helpers import settle


def room_event(handle: int) -> ffi_pb2.FfiEvent:
    event = ffi_pb2.FfiEvent()
    event.room_event.room_handle = handle
    event.room_event.data_packet_received.participant_identity = "device"
    return event


def callback(kind: str) -> ffi_pb2.FfiEvent:
    event = ffi_pb2.FfiEvent()
    getattr(event, kind).SetInParent()
    return event


def test_own_room_events_pass_and_other_rooms_do_not() -> None:
    wanted = room_filter(11)
    assert wanted(room_event(11))
    assert not wanted(room_event(12))


@pytest.mark.parametrize("kind", ["publish_track", "unpublish_track", "disconnect"])
def test_callbacks_a_room_may_wait_for_pass(kind: str) -> None:
    assert room_filter(11)(callback(kind))


def test_rpc_invocations_pass() -> None:
    event = ffi_pb2.FfiEvent()
    event.rpc_method_invocation.method = "ping"
    assert room_filter(11)(event)


@pytest.mark.parametrize(
    "kind",
    [
        "capture_audio_frame",
        "publish_data",
        "byte_stream_reader_event",
        "text_stream_reader_event",
        "data_track_stream_event",
    ],
)
def test_frequent_callbacks_are_left_to_their_caller(kind: str) -> None:
    assert not room_filter(11)(callback(kind))


def test_media_stream_frames_are_left_to_their_stream() -> None:
    event = ffi_pb2.FfiEvent()
    event.audio_stream_event.stream_handle = 3
    assert not room_filter(11)(event)


def user_packet(handle: int, payload: bytes, sender: str) -> tuple[ffi_pb2.FfiEvent, object]:
    """A data packet event whose native buffer is `payload` (kept alive by the returned buffer);
    handle id 0 is the SDK's invalid handle, which freeing leaves alone."""
    buffer = ctypes.create_string_buffer(payload, len(payload))
    event = room_event(handle)
    packet = event.room_event.data_packet_received
    packet.participant_identity = sender
    packet.user.data.data.data_ptr = ctypes.addressof(buffer)
    packet.user.data.data.data_len = len(payload)
    packet.user.data.handle.id = 0
    return event, buffer


def test_own_data_packets_are_taken_and_kept_from_the_room() -> None:
    taken: list[ffi_pb2.FfiEvent] = []
    wanted = room_filter(11, taken.append)
    own, _buffer = user_packet(11, b"\x07abcd", "device")
    other, _other_buffer = user_packet(12, b"\x07abcd", "device")
    assert not wanted(own) and taken == [own]
    assert not wanted(other) and taken == [own]  # another room's: neither taken nor delivered


def test_other_room_events_still_reach_the_room_when_data_is_taken() -> None:
    wanted = room_filter(11, lambda event: pytest.fail("not a user data packet"))
    connected = ffi_pb2.FfiEvent()
    connected.room_event.room_handle = 11
    connected.room_event.participant_connected.info.info.identity = "device"
    dtmf = ffi_pb2.FfiEvent()
    dtmf.room_event.room_handle = 11
    dtmf.room_event.data_packet_received.sip_dtmf.code = 1
    assert wanted(connected)
    assert wanted(dtmf)


def test_a_taken_packet_reaches_the_handler_in_its_loop_with_its_sender() -> None:
    """The callback thread copies the payload and schedules the handler in the room's loop."""

    async def scenario() -> list[tuple[bytes, str, int]]:
        loop = asyncio.get_running_loop()
        got: list[tuple[bytes, str, int]] = []
        arrived = asyncio.Event()

        def on_data(data: bytes, sender: str) -> None:
            got.append((data, sender, threading.get_ident()))
            arrived.set()

        take = data_taker(loop, on_data)
        event, buffer = user_packet(11, b"\x07\x01\x02\x03", "device")
        await asyncio.to_thread(take, event)  # the SDK's callback thread
        ctypes.memset(buffer, 0, 4)  # the native buffer is freed after: the payload was copied
        await asyncio.wait_for(arrived.wait(), 5)
        return got

    got = asyncio.run(scenario())
    assert [(data, sender) for data, sender, _ in got] == [(b"\x07\x01\x02\x03", "device")]
    assert got[0][2] == threading.get_ident()  # the loop's thread, not the callback thread


def test_a_packet_for_a_closed_loop_is_dropped_without_raising() -> None:
    """Raising would make the SDK deliver the event to the room a second time."""
    loop = asyncio.new_event_loop()
    loop.close()
    event, _buffer = user_packet(11, b"\x07ab", "device")
    data_taker(loop, lambda data, sender: None)(event)


def test_a_taken_packet_waits_for_the_room_events_queued_before_it() -> None:
    """The participant_connected that releases held packets (or a first-moments packet) is in
    the room's queue ahead of a packet taken in the callback thread: the packet must not pass."""

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        room_queue: asyncio.Queue[str] = asyncio.Queue()
        seen: list[str] = []
        in_order = InOrder(loop, room_queue, lambda data, sender: seen.append(data.decode()))

        async def room_task() -> None:  # handles an event in the step that takes it, as Room's
            while True:
                seen.append(await room_queue.get())
                await asyncio.sleep(0)  # models the Room's task: one event per loop step

        task = asyncio.create_task(room_task())
        room_queue.put_nowait("participant_connected")
        room_queue.put_nowait("packet 1 (room path)")
        in_order.deliver(b"packet 2", "device")
        in_order.deliver(b"packet 3", "device")
        await settle(lambda: len(seen) == 4, "the 4 queued events and packets handled")
        in_order.deliver(b"packet 4", "device")  # nothing queued now: straight through
        task.cancel()
        return seen

    assert asyncio.run(scenario()) == [
        "participant_connected",
        "packet 1 (room path)",
        "packet 2",
        "packet 3",
        "packet 4",
    ]


def test_a_packet_for_a_room_whose_task_ended_is_dropped_and_nothing_spins() -> None:
    """The room's task ended at its end-of-stream and left events in its queue: they are never
    taken. A packet held behind them used to look again on every turn of the loop, forever."""

    async def scenario() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        room_queue: asyncio.Queue[str] = asyncio.Queue()
        seen: list[str] = []
        listening = [True]
        looks = [0]

        def still_listening() -> bool:
            looks[0] += 1
            return listening[0]

        in_order = InOrder(
            loop, room_queue, lambda data, sender: seen.append(data.decode()), still_listening
        )
        room_queue.put_nowait("an event after the end-of-stream")
        in_order.deliver(b"packet 1", "device")  # the room's task still runs: held
        await asyncio.sleep(0.01)
        listening[0] = False  # the task ends; the event stays queued
        await asyncio.sleep(0.01)
        looks_then = looks[0]
        in_order.deliver(b"packet 2", "device")  # dropped at once
        await asyncio.sleep(0.05)
        return seen, looks[0] - looks_then

    seen, looks_after = asyncio.run(scenario())
    assert seen == []
    assert looks_after == 1  # packet 2's own look, then nothing

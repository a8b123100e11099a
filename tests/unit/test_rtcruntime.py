"""The per-room event filter: what a room listener keeps and what it is spared."""

from __future__ import annotations

import pytest
from livekit.rtc._proto import ffi_pb2

from lkbridge.rtcruntime import room_filter


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

"""The outbox's budget (bytes and age, oldest dropped and counted) and the writer draining it.

Pure logic: a fake session and a fake gRPC context stand in for the room and the call. Times
are passed in, never measured.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc
import pytest

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.server.outbox import Outbox
from lkbridge.server.session import StreamBinding
from lkbridge.server.stats import LatencyRecorder
from lkbridge.server.stream_writer import StreamWriter


def test_byte_budget_drops_the_oldest_and_counts() -> None:
    outbox = Outbox(max_bytes=10, max_age_s=60)
    for i in range(6):
        outbox.put(bytes([i]) * 4)
    assert outbox.queued_bytes == 8 and len(outbox) == 2
    assert (outbox.dropped_frames, outbox.dropped_bytes) == (4, 16)
    assert (outbox.frames_in, outbox.bytes_in) == (6, 24)
    first = outbox.pop()
    assert first is not None and first.pcm == b"\x04" * 4


def test_one_item_over_the_budget_is_kept() -> None:
    outbox = Outbox(max_bytes=4, max_age_s=60)
    outbox.put(b"\0" * 100)
    assert len(outbox) == 1 and outbox.dropped_frames == 0


def test_audio_older_than_the_budget_is_dropped_when_the_writer_comes() -> None:
    outbox = Outbox(max_bytes=1_000_000, max_age_s=2.0)
    outbox.put(b"old!")
    old = outbox._items[0]
    assert outbox.pop(old.queued_at + 2.5) is None
    assert (outbox.dropped_frames, outbox.dropped_bytes, outbox.queued_bytes) == (1, 4, 0)
    outbox.put(b"new!")
    new = outbox._items[0]
    item = outbox.pop(new.queued_at + 1.5)
    assert item is not None and item.pcm == b"new!" and outbox.dropped_frames == 1


def test_age_budget_follows_the_byte_budget_by_default() -> None:
    assert Outbox(max_bytes=64_000).max_age_s == pytest.approx(2.0)


def test_put_tells_the_listener_and_clear_empties() -> None:
    outbox = Outbox(max_bytes=100)
    calls: list[int] = []
    outbox.listener = lambda: calls.append(len(outbox))
    outbox.put(b"")  # nothing to send: no call
    outbox.put_device_packet(b"\x07\1\2")  # odd length: the 1-byte header goes
    assert calls == [1]
    item = outbox.pop()
    assert item is not None and item.pcm == b"\1\2"
    outbox.put(b"ab")
    outbox.clear()
    assert (len(outbox), outbox.queued_bytes) == (0, 0)


# -- the writer -----------------------------------------------------------------------------------


@dataclass
class FakeSession:
    outbox: Outbox = field(default_factory=lambda: Outbox(1_000_000, 60))
    user_id: str = "u"
    frames_out: int = 0
    bytes_out: int = 0


class FakeContext:
    def __init__(self) -> None:
        self.written: list[pb.AudioChunk] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def write(self, message: pb.AudioChunk) -> None:
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.written.append(message)


def make_writer() -> tuple[FakeSession, StreamBinding, FakeContext, StreamWriter]:
    session = FakeSession()
    binding = StreamBinding(session)  # type: ignore[arg-type]
    context = FakeContext()
    writer = StreamWriter(session, binding, context, LatencyRecorder())  # type: ignore[arg-type]
    session.outbox.listener = writer.kick
    return session, binding, context, writer


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_writer_drains_in_order_and_counts() -> None:
    session, _, context, writer = make_writer()
    for i in range(5):
        session.outbox.put(bytes([i, i]))
    await settle()
    assert [c.pcm_data for c in context.written] == [bytes([i, i]) for i in range(5)]
    assert all(c.sample_rate == 16000 and c.channels == 1 for c in context.written)
    assert (session.frames_out, session.bytes_out) == (5, 10)
    await writer.close()


async def test_a_blocked_writer_leaves_the_outbox_to_drop_the_oldest() -> None:
    session, _, context, writer = make_writer()
    session.outbox.max_bytes = 6
    context.gate.clear()  # the client stops reading: the write in flight blocks
    session.outbox.put(b"\0\0")
    await settle()
    for i in range(1, 10):
        session.outbox.put(bytes([i, i]))
    await settle()
    assert session.outbox.queued_bytes <= 6 and session.outbox.dropped_frames == 6
    context.gate.set()
    await settle()
    # the one write in flight, then the newest three
    assert [c.pcm_data[0] for c in context.written] == [0, 7, 8, 9]
    await writer.close()


async def test_a_failed_write_ends_the_binding_as_a_client_error() -> None:
    session, binding, context, writer = make_writer()
    context.fail = RuntimeError("connection reset")
    session.outbox.put(b"ab")
    await settle()
    assert binding.ended and binding.end_code is grpc.StatusCode.CANCELLED
    assert "connection reset" in binding.end_reason
    session.outbox.put(b"cd")  # no new drain after the end
    await settle()
    assert context.written == []
    await writer.close()


async def test_close_cancels_a_drain_in_flight_and_keeps_the_callers_cancel() -> None:
    session, _, context, writer = make_writer()
    context.gate.clear()
    session.outbox.put(b"ab")
    await settle()
    await writer.close()
    session.outbox.put(b"cd")
    await settle()
    assert context.written == []
    # close() itself is cancellable: a caller's own cancel is not swallowed
    _, _, context2, writer2 = make_writer()
    context2.gate.clear()
    writer2._session.outbox.put(b"ab")
    await settle()
    task = asyncio.ensure_future(writer2.close())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

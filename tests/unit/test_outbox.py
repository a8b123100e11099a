"""The outbox's budget (bytes and age, oldest dropped and counted) and the writer draining it.

Pure logic: what the writer reads of a session (its outbox, user_id and counters) and a fake
gRPC context stand in for the room and the call. Times
are passed in (read around a put, never waited for), and the writer is awaited in event-loop
steps until the state it must reach, never in seconds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.server.grpc.stats import LatencyRecorder
from lkbridge.server.grpc.stream_writer import StreamWriter
from lkbridge.server.room_to_client.outbox import Outbox
from lkbridge.server.session.binding import StreamBinding, StreamEnd
from tests.helpers import settle


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
    after = time.perf_counter()  # the item was queued at this time or before
    assert outbox.pop(after + 2.5) is None
    assert (outbox.dropped_frames, outbox.dropped_bytes, outbox.queued_bytes) == (1, 4, 0)
    before = time.perf_counter()  # the next item is queued at this time or after
    outbox.put(b"new!")
    item = outbox.pop(before + 1.5)
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
    """What the writer is given of a session: its outbox, user_id and counters (OutCounters)."""

    outbox: Outbox = field(default_factory=lambda: Outbox(1_000_000, 60))
    user_id: str = "u"
    frames_out: int = 0
    bytes_out: int = 0


class FakeContext:
    def __init__(self) -> None:
        self.written: list[pb.AudioChunk] = []
        self.writes_begun = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def write(self, message: pb.AudioChunk) -> None:
        self.writes_begun += 1
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.written.append(message)


def make_writer() -> tuple[FakeSession, StreamBinding, FakeContext, StreamWriter]:
    session = FakeSession()
    binding = StreamBinding()
    context = FakeContext()
    writer = StreamWriter(
        session.user_id, session.outbox, session, binding, context, LatencyRecorder()
    )
    session.outbox.listener = writer.kick
    return session, binding, context, writer


def drains() -> list[asyncio.Task[object]]:
    """The writers' drain tasks still running (the writer names them `stream-out:<user>`)."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("stream-out:")]


async def test_writer_drains_in_order_and_counts() -> None:
    session, _, context, writer = make_writer()
    for i in range(5):
        session.outbox.put(bytes([i, i]))
    await settle(lambda: len(context.written) == 5, "the 5 chunks written")
    assert [c.pcm_data for c in context.written] == [bytes([i, i]) for i in range(5)]
    assert all(c.sample_rate == 16000 and c.channels == 1 for c in context.written)
    assert (session.frames_out, session.bytes_out) == (5, 10)
    await writer.close()


async def test_a_blocked_writer_leaves_the_outbox_to_drop_the_oldest() -> None:
    session, _, context, writer = make_writer()
    session.outbox.max_bytes = 6
    context.gate.clear()  # the client stops reading: the write in flight blocks
    session.outbox.put(b"\0\0")
    await settle(lambda: context.writes_begun == 1, "the first write to begin")
    for i in range(1, 10):
        session.outbox.put(bytes([i, i]))
    assert session.outbox.queued_bytes <= 6 and session.outbox.dropped_frames == 6
    assert context.writes_begun == 1, "one write in flight, blocked"
    context.gate.set()
    await settle(lambda: not drains(), "the drain to end")
    # the one write in flight, then the newest three
    assert [c.pcm_data[0] for c in context.written] == [0, 7, 8, 9]
    await writer.close()


async def test_a_failed_write_ends_the_binding_as_a_client_error() -> None:
    session, binding, context, writer = make_writer()
    context.fail = RuntimeError("connection reset")
    session.outbox.put(b"ab")
    await settle(lambda: binding.ended, "the failed write to end the binding")
    assert binding.ended and binding.why is StreamEnd.CLIENT_ERROR  # CANCELLED: test_status_map
    assert binding.end_reason == "client stream error: RuntimeError('connection reset')"
    session.outbox.put(b"cd")  # no new drain after the end
    assert not drains() and context.writes_begun == 1
    assert context.written == []
    await writer.close()


async def test_close_cancels_a_drain_in_flight_and_keeps_the_callers_cancel() -> None:
    session, _, context, writer = make_writer()
    context.gate.clear()
    session.outbox.put(b"ab")
    await settle(lambda: context.writes_begun == 1, "the write to begin")
    await writer.close()
    session.outbox.put(b"cd")
    assert not drains() and context.writes_begun == 1
    assert context.written == []
    # close() itself is cancellable: a caller's own cancel is not swallowed
    session2, _, context2, writer2 = make_writer()
    context2.gate.clear()
    session2.outbox.put(b"ab")
    await settle(lambda: context2.writes_begun == 1, "the write to begin")
    task = asyncio.ensure_future(writer2.close())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

"""The front's relay (`lkbridge serve --workers K`): each LiveKitBridge call to the worker that
holds its user, the worker's status and message back word for word, HealthCheck added up.

The relay costs a second gRPC receive and send per chunk (measured in docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc
from lkbridge._proto import lkbridge_admin_pb2_grpc as admin_grpc
from lkbridge.errors import FirstMessageLate
from lkbridge.server.config import MAX_RECEIVE_BYTES
from lkbridge.server.front.workers import shard_of
from lkbridge.server.grpc.first_message import first_message
from lkbridge.server.grpc.health_check import HealthFigures, health_metadata, health_status
from lkbridge.server.grpc.service import client_end_settled
from lkbridge.server.grpc.stats import Stats
from lkbridge.wire import MAX_MESSAGE_BYTES, STREAM_ACCEPTED

log = logging.getLogger(__name__)

WORKER_HEALTH_TIMEOUT_S = 2.0


async def relay_error(context: grpc.aio.ServicerContext, exc: grpc.aio.AioRpcError) -> NoReturn:
    """End the caller's call with the worker's status, word for word."""
    await context.abort(exc.code(), exc.details() or "")
    raise AssertionError("abort returns only by raising")  # pragma: no cover


async def relay_replies(call: Any, context: grpc.aio.ServicerContext) -> None:
    """Every message of the worker's streaming call to the caller, then its end as it was; the
    worker's call is cancelled however this ends (after a normal end that does nothing)."""
    try:
        # the worker's answer to the call's start (StreamAudio accepts before any audio)
        headers = tuple(await call.initial_metadata() or ())
        if STREAM_ACCEPTED in headers:  # else a refusal: its status ends the loop below
            await context.send_initial_metadata(headers)
        async for reply in call:
            await context.write(reply)
    except grpc.aio.AioRpcError as exc:
        await relay_error(context, exc)
    finally:
        call.cancel()


class Workers:
    """Channels and stubs to the workers; `for_user` picks the user's one."""

    def __init__(self, targets: list[str]) -> None:
        options = [
            # a chunk over the limit is relayed for the worker to refuse (its session stays)
            ("grpc.max_send_message_length", MAX_RECEIVE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # a restarted worker is back within a second: do not sit in a long backoff
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        self.channels = [grpc.aio.insecure_channel(t, options=options) for t in targets]
        self.bridges = [pb_grpc.LiveKitBridgeStub(c) for c in self.channels]
        self.admins = [admin_grpc.BridgeAdminStub(c) for c in self.channels]

    def for_user(self, user_id: str) -> Any:
        return self.bridges[shard_of(user_id, len(self.bridges))]

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels), return_exceptions=True)


def _unary_relay(method: str) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    """A ProxyService method that relays the unary call `method` to the user's worker."""

    async def relay(self: ProxyService, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._unary(method, request, context)

    relay.__name__ = relay.__qualname__ = method
    return relay


class ProxyService(pb_grpc.LiveKitBridgeServicer):  # type: ignore[misc]
    def __init__(self, stats: Stats, first_message_timeout_s: float) -> None:
        self.shutting_down = False
        self.first_message_timeout_s = first_message_timeout_s
        self.workers: Workers | None = None
        self._stats = stats

    def _pick(self, user_id: str) -> Any:
        assert self.workers is not None
        return self.workers.for_user(user_id)

    async def _unary(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """One request, one answer: the user's worker answers, its status comes back as is."""
        call = getattr(self._pick(request.user_id), method)
        try:
            return await call(request, timeout=context.time_remaining())
        except grpc.aio.AioRpcError as exc:
            await relay_error(context, exc)

    JoinRoom = _unary_relay("JoinRoom")
    LeaveRoom = _unary_relay("LeaveRoom")
    StopAudio = _unary_relay("StopAudio")
    GetStatus = _unary_relay("GetStatus")

    async def PlayAudio(
        self, request: pb.PlayAudioRequest, context: grpc.aio.ServicerContext
    ) -> None:
        # caller gone or write failed: the cancel stops the worker's playback
        await relay_replies(self._pick(request.user_id).PlayAudio(request), context)

    async def StreamAudio(
        self, request_iterator: AsyncIterator[pb.AudioChunk], context: grpc.aio.ServicerContext
    ) -> None:
        try:
            first = await first_message(request_iterator, self.first_message_timeout_s)
        except FirstMessageLate as exc:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc))
            raise AssertionError("abort returns only by raising") from None  # pragma: no cover
        if first is None:
            return

        handler = asyncio.current_task()
        assert handler is not None

        async def caller_chunks() -> AsyncIterator[pb.AudioChunk]:
            yield first
            async for chunk in request_iterator:
                yield chunk
            # A caller's cancel also ends its request stream first: the worker must get the
            # cancel (which closes the session), never a half-close (which keeps it).
            await client_end_settled(context)
            if handler.cancelling():
                await asyncio.Future()  # until the handler's `finally` cancels the worker call

        call = self._pick(first.user_id).StreamAudio(caller_chunks())
        self._stats.active_streams += 1
        try:
            # the caller cancelled or its stream broke: the cancel makes the worker close the
            # session, as the contract says; after a normal end it does nothing
            await relay_replies(call, context)
        finally:
            self._stats.active_streams -= 1

    async def HealthCheck(
        self, request: pb.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> pb.HealthCheckResponse:
        assert self.workers is not None
        answers = await asyncio.gather(
            *(
                bridge.HealthCheck(pb.HealthCheckRequest(), timeout=WORKER_HEALTH_TIMEOUT_S)
                for bridge in self.workers.bridges
            ),
            return_exceptions=True,
        )
        up = [
            a
            for a in answers
            if isinstance(a, pb.HealthCheckResponse) and a.status == pb.HealthCheckResponse.SERVING
        ]
        # a worker being restarted is in workers_up
        status = health_status(request.service, serving=bool(up) and not self.shutting_down)
        own = self._stats.process()

        def total(key: str, own_value: float = 0.0) -> float:
            return own_value + sum(float(a.metadata.get(key, 0)) for a in up)

        def highest(key: str) -> float:
            return max((float(a.metadata.get(key, 0)) for a in up), default=0.0)

        figures = HealthFigures(
            tasks=int(total("tasks", own.tasks)),
            rss_mb=total("rss_mb", own.rss_mb),
            threads=int(total("threads", own.threads)),
            open_fds=int(total("open_fds", own.open_fds)),
            sessions_created=int(total("sessions_created")),
            streams_total=int(total("streams_total")),
            dropped_frames=int(total("dropped_frames")),
            dropped_bytes=int(total("dropped_bytes")),
            dropped_in_chunks=int(total("dropped_in_chunks")),
            dropped_in_ms=int(total("dropped_in_ms")),
            stalls=int(total("stalls")),  # the workers' own: they hold the sessions
            stalled_s=total("stalled_s"),
            max_sessions=int(total("max_sessions")),
            max_joins_in_flight=int(total("max_joins_in_flight")),
            joins_in_flight=int(total("joins_in_flight")),
            joins_refused=int(total("joins_refused")),
            joins_abandoned=int(total("joins_abandoned")),
            cpu_s=total("cpu_s", self._stats.cpu_seconds()),
            cpu_busy_percent=highest("cpu_busy_percent"),
            max_cpu=highest("max_cpu"),
        )
        metadata = health_metadata(
            self._stats.version, figures, workers=str(len(answers)), workers_up=str(len(up))
        )
        for key in up[0].metadata if up else ():
            if key.startswith("latency_"):  # inside the workers: mean p50, worst p99
                values = [float(a.metadata[key]) for a in up if key in a.metadata]
                merged = max(values) if "_p99_" in key else sum(values) / len(values)
                metadata[key] = f"{merged:.2f}"
        return pb.HealthCheckResponse(
            status=status,
            active_sessions=sum(a.active_sessions for a in up),
            active_streams=sum(a.active_streams for a in up),
            uptime_seconds=int(own.uptime_s),
            metadata=metadata,
        )

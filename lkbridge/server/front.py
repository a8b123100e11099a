"""The front of `lkbridge serve --workers K`: the public address in front of K session processes.

It speaks the same services (LiveKitBridge, health, reflection, BridgeAdmin) behind the same
auth and TLS, and relays each call to the worker that holds the user (workers.py). Status codes
and messages come back unchanged, so a caller cannot tell a front from a single bridge, except
that HealthCheck adds the workers up and says how many answered. The relay costs a second gRPC
receive and send per chunk (measured in docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health_pb2

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc
from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge._proto import lkbridge_admin_pb2_grpc as admin_grpc
from lkbridge.server.admin import process_stats
from lkbridge.server.bridge_server import BridgeServer
from lkbridge.server.config import MAX_RECEIVE_BYTES, SERVICE_NAME, BridgeConfig
from lkbridge.server.health_check import HealthFigures, health_metadata, health_status
from lkbridge.server.service import client_end_settled
from lkbridge.server.stats import Stats
from lkbridge.server.workers import WorkerPool, shard_of
from lkbridge.wire import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)


WORKER_HEALTH_TIMEOUT_S = 2.0


async def relay_error(context: grpc.aio.ServicerContext, exc: grpc.aio.AioRpcError) -> NoReturn:
    """End the caller's call with the worker's status, word for word."""
    await context.abort(exc.code(), exc.details() or "")
    raise AssertionError("abort returns only by raising")  # pragma: no cover


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
    def __init__(self, stats: Stats) -> None:
        self.shutting_down = False
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
        call = self._pick(request.user_id).PlayAudio(request)
        try:
            async for event in call:
                await context.write(event)
        except grpc.aio.AioRpcError as exc:
            await relay_error(context, exc)
        finally:
            call.cancel()  # caller gone or write failed: the worker stops the playback

    async def StreamAudio(
        self, request_iterator: AsyncIterator[pb.AudioChunk], context: grpc.aio.ServicerContext
    ) -> None:
        try:
            first = await anext(request_iterator)
        except StopAsyncIteration:
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
            async for chunk in call:
                await context.write(chunk)
        except grpc.aio.AioRpcError as exc:
            await relay_error(context, exc)
        finally:
            # the caller cancelled or its stream broke: the worker closes the session, as the
            # contract says; after a normal end this does nothing
            call.cancel()
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

        figures = HealthFigures(
            tasks=int(total("tasks", own.tasks)),
            rss_mb=total("rss_mb", own.rss_mb),
            threads=int(total("threads", own.threads)),
            open_fds=int(total("open_fds", own.open_fds)),
            sessions_created=int(total("sessions_created")),
            streams_total=int(total("streams_total")),
            dropped_frames=int(total("dropped_frames")),
            dropped_bytes=int(total("dropped_bytes")),
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


def merge_snapshots(own: admin_pb.ProcessStats, parts: list[Any]) -> admin_pb.StatsSnapshot:
    """One snapshot of the front and its workers: figures added up, sessions listed together."""
    merged = admin_pb.StatsSnapshot(process=own)
    for part in parts:
        process, totals = merged.process, merged.totals
        process.rss_mb += part.process.rss_mb
        process.cpu_percent += part.process.cpu_percent
        process.threads += part.process.threads
        process.tasks += part.process.tasks
        process.open_fds += part.process.open_fds
        process.loop_lag_ms = max(process.loop_lag_ms, part.process.loop_lag_ms)
        for field in admin_pb.Totals.DESCRIPTOR.fields:
            setattr(
                totals, field.name, getattr(totals, field.name) + getattr(part.totals, field.name)
            )
        merged.sessions.extend(part.sessions)
        merged.timestamp_ms = max(merged.timestamp_ms, part.timestamp_ms)
    return merged


class FrontAdmin(admin_grpc.BridgeAdminServicer):  # type: ignore[misc]
    def __init__(self, stats: Stats) -> None:
        self.workers: Workers | None = None
        self._stats = stats

    async def ListSessions(
        self, request: admin_pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb.ListSessionsResponse:
        assert self.workers is not None
        answers = await asyncio.gather(
            *(
                admin.ListSessions(request, timeout=context.time_remaining())
                for admin in self.workers.admins
            ),
            return_exceptions=True,  # a worker being restarted has no sessions to list
        )
        listed = [a for a in answers if isinstance(a, admin_pb.ListSessionsResponse)]
        return admin_pb.ListSessionsResponse(sessions=[s for a in listed for s in a.sessions])

    async def WatchStats(
        self, request: admin_pb.WatchStatsRequest, context: grpc.aio.ServicerContext
    ) -> None:
        """Every worker's stream kept at its latest snapshot, merged on this call's own timer.

        A worker that is down (being restarted) is left out until its stream opens again.
        """
        assert self.workers is not None
        interval = max(request.interval_ms or 1000, 100) / 1000
        latest: dict[int, Any] = {}
        loop = asyncio.get_running_loop()
        followers = [
            loop.create_task(self._follow(i, admin, request, latest, interval))
            for i, admin in enumerate(self.workers.admins)
        ]
        try:
            await asyncio.sleep(min(interval, 0.2))  # the workers' first snapshots
            while True:
                merged = merge_snapshots(
                    process_stats(self._stats), [latest[i] for i in sorted(latest)]
                )
                await context.write(merged)
                await asyncio.sleep(interval)
        finally:
            for task in followers:
                task.cancel()

    @staticmethod
    async def _follow(
        index: int,
        admin: Any,
        request: admin_pb.WatchStatsRequest,
        latest: dict[int, Any],
        interval: float,
    ) -> None:
        while True:
            call = admin.WatchStats(request)
            try:
                async for snapshot in call:
                    latest[index] = snapshot
            except grpc.aio.AioRpcError:
                pass
            finally:
                call.cancel()
            latest.pop(index, None)
            await asyncio.sleep(interval)


class FrontServer(BridgeServer):
    """BridgeServer's serving and shutdown, with the sessions in worker processes."""

    hosts_sessions = False  # no room here: the SDK's native side is never started

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__(config)
        self.pool = WorkerPool(config)
        self.proxy = ProxyService(self.stats)
        self.front_admin = FrontAdmin(self.stats)
        self.service = self.proxy
        self.admin = self.front_admin
        self._workers: Workers | None = None

    async def start(self) -> None:
        await self.pool.start()
        self._workers = Workers(self.pool.targets)
        self.proxy.workers = self.front_admin.workers = self._workers
        await super().start()
        self.pool.on_change = self._workers_changed
        await self._workers_changed(self.pool.ready)
        log.info("fronting %d workers", len(self.pool.targets))

    async def _workers_changed(self, ready: int) -> None:
        """The standard health follows the workers: NOT_SERVING while none of them is up.

        (One worker down is not a reason to take the whole front out of a load balancer: the
        front restarts it, and the users of the others are fine.) After shutdown has begun the
        health servicer ignores this and stays NOT_SERVING.
        """
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        if not ready:
            log.error("no worker is up: health NOT_SERVING until one is back")
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def metrics_snapshot(self) -> admin_pb.StatsSnapshot:
        """The front's figures plus each worker's first WatchStats snapshot (one per scrape)."""
        assert self._workers is not None
        request = admin_pb.WatchStatsRequest(include_sessions=False)

        async def first(admin: Any) -> Any:
            call = admin.WatchStats(request, timeout=WORKER_HEALTH_TIMEOUT_S)
            try:
                return await call.read()
            finally:
                call.cancel()

        answers = await asyncio.gather(
            *(first(admin) for admin in self._workers.admins), return_exceptions=True
        )
        parts = [a for a in answers if isinstance(a, admin_pb.StatsSnapshot)]
        return merge_snapshots(process_stats(self.stats), parts)

    async def shutdown(self) -> None:
        """Workers get SIGTERM at once: they end their streams (relayed as they are) and leave
        their rooms while the front stops taking calls."""
        grace = 0.0 if self._force_exit else self.config.grace_period_s
        self.proxy.shutting_down = True
        workers_stopped = asyncio.get_running_loop().create_task(self.pool.stop(grace))
        await super().shutdown()
        await workers_stopped
        if self._workers is not None:
            await self._workers.close()

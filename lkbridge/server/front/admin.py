"""The front's BridgeAdmin: its own figures and its workers', merged into one view."""

from __future__ import annotations

import asyncio
import operator
from typing import Any

import grpc

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge._proto import lkbridge_admin_pb2_grpc as admin_grpc
from lkbridge.server.front.relay import Workers
from lkbridge.server.grpc.admin import process_stats
from lkbridge.server.grpc.stats import Stats

# per-process figures of the workers: the busiest's is the front's (the rest add up)
_HIGHEST = frozenset({"cpu_busy_percent", "max_cpu"})


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
            mine, theirs = getattr(totals, field.name), getattr(part.totals, field.name)
            merge = max if field.name in _HIGHEST else operator.add
            setattr(totals, field.name, merge(mine, theirs))
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

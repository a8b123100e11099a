"""The BridgeAdmin service (lkbridge.admin.v1) and the one place live figures are gathered.

`Snapshots.take()` builds what WatchStats streams, ListSessions lists and the Prometheus
endpoint renders, so every view shows the same numbers. Per-session rates come from the
counters' change since the previous snapshot.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge._proto import lkbridge_admin_pb2_grpc as admin_grpc
from lkbridge.server.registry import SessionRegistry
from lkbridge.server.session import Session
from lkbridge.server.stats import Stats

ADMIN_SERVICE_NAME = "lkbridge.admin.v1.BridgeAdmin"


class Snapshots:
    def __init__(self, registry: SessionRegistry, stats: Stats) -> None:
        self._registry = registry
        self._stats = stats
        self._last: dict[str, tuple[float, int, int]] = {}

    def session_info(self, session: Session, now: float) -> admin_pb.SessionInfo:
        previous = self._last.get(session.user_id)
        rate_in = rate_out = 0.0
        if previous is not None and now > previous[0]:
            elapsed = now - previous[0]
            rate_in = (session.frames_in - previous[1]) / elapsed
            rate_out = (session.frames_out - previous[2]) / elapsed
        self._last[session.user_id] = (now, session.frames_in, session.frames_out)
        playbacks = [
            admin_pb.PlaybackInfo(
                request_id=p.request_id,
                track=p.track.name,
                position_ms=p.position_ms,
                duration_ms=p.duration_ms or 0,
                state=p.state.value,
            )
            for p in session.playbacks.values()
        ]
        return admin_pb.SessionInfo(
            user_id=session.user_id,
            room=session.room_name,
            participant_id=session.participant_id,
            connected=session.connected,
            participant_count=session.participant_count,
            tracks=session.tracks.names(),
            stream_open=session.stream is not None,
            queue_bytes=session.outbox.queued_bytes,
            frames_in_per_s=round(max(rate_in, 0.0), 2),
            frames_out_per_s=round(max(rate_out, 0.0), 2),
            drops=session.outbox.dropped_frames,
            playbacks=playbacks,
            last_disconnect_reason=session.last_disconnect_reason,
            age_s=round(now - session.created_at, 1),
            state=session.state.value,
            frames_in=session.frames_in,
            frames_out=session.frames_out,
        )

    def sessions(self) -> list[admin_pb.SessionInfo]:
        now = time.monotonic()
        infos = [self.session_info(s, now) for s in self._registry]
        live = {s.user_id for s in infos}
        for user in list(self._last):
            if user not in live:
                del self._last[user]
        return infos

    def take(self, include_sessions: bool = True) -> admin_pb.StatsSnapshot:
        figures = self._stats.process()
        sessions = self.sessions()
        live = list(self._registry)
        totals = admin_pb.Totals(
            sessions=len(live),
            streams=self._stats.active_streams,
            playbacks=sum(len(s.playbacks) for s in live),
            frames_in=sum(s.frames_in for s in live),
            frames_out=sum(s.frames_out for s in live),
            bytes_in=sum(s.bytes_in for s in live),
            bytes_out=sum(s.bytes_out for s in live),
            drops=sum(s.outbox.dropped_frames for s in live),
            errors=self._stats.errors,
            sessions_created=self._registry.sessions_created,
        )
        return admin_pb.StatsSnapshot(
            timestamp_ms=time.time_ns() // 1_000_000,
            process=admin_pb.ProcessStats(
                uptime_s=round(figures.uptime_s, 1),
                rss_mb=round(figures.rss_mb, 1),
                cpu_percent=round(self._stats.cpu_percent(), 1),
                threads=figures.threads,
                tasks=figures.tasks,
                open_fds=figures.open_fds,
                loop_lag_ms=round(self._stats.loop_lag_ms, 2),
                version=self._stats.version,
            ),
            totals=totals,
            sessions=sessions if include_sessions else [],
        )


class BridgeAdminService(admin_grpc.BridgeAdminServicer):  # type: ignore[misc]
    def __init__(self, snapshots: Snapshots) -> None:
        self._snapshots = snapshots

    async def WatchStats(
        self, request: admin_pb.WatchStatsRequest, context: grpc.aio.ServicerContext
    ) -> None:
        interval = max(request.interval_ms or 1000, 100) / 1000
        while True:
            await context.write(self._snapshots.take(request.include_sessions))
            await asyncio.sleep(interval)

    async def ListSessions(
        self, request: admin_pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb.ListSessionsResponse:
        return admin_pb.ListSessionsResponse(sessions=self._snapshots.sessions())

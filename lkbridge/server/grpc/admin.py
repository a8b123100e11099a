"""The BridgeAdmin service (lkbridge.admin.v1) and the one place live figures are gathered.

`Snapshots.take()` builds what WatchStats streams, ListSessions lists and the Prometheus
endpoint renders, so every view shows the same numbers. Per-session rates come from the
counters' change over a window of at least a second, kept per viewer: each WatchStats call has
its own baseline, so two dashboards do not cut each other's windows short.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge._proto import lkbridge_admin_pb2_grpc as admin_grpc
from lkbridge.audio.meter import LevelWindows
from lkbridge.server.grpc.stats import Stats
from lkbridge.server.session.registry import SessionRegistry
from lkbridge.server.session.session import Session
from lkbridge.server.stalls import STALLS

ADMIN_SERVICE_NAME = "lkbridge.admin.v1.BridgeAdmin"


RATE_WINDOW_S = 1.0


def process_stats(stats: Stats) -> admin_pb.ProcessStats:
    """This process's figures, as every snapshot (and a front's merged one) carries them."""
    figures = stats.process()
    return admin_pb.ProcessStats(
        uptime_s=round(figures.uptime_s, 1),
        rss_mb=round(figures.rss_mb, 1),
        cpu_percent=round(stats.cpu_percent(), 1),
        threads=figures.threads,
        tasks=figures.tasks,
        open_fds=figures.open_fds,
        loop_lag_ms=round(stats.loop_lag_ms, 2),
        version=stats.version,
    )


class FrameRates:
    """Frames per second in and out per session, over windows of at least RATE_WINDOW_S.

    A reading sooner than that returns the last rates instead of a delta over a sliver of time.
    """

    def __init__(self) -> None:
        self._base: dict[str, tuple[float, int, int]] = {}
        self._rates: dict[str, tuple[float, float]] = {}

    def read(
        self, user_id: str, now: float, frames_in: int, frames_out: int
    ) -> tuple[float, float]:
        base = self._base.get(user_id)
        if base is None:
            self._base[user_id] = (now, frames_in, frames_out)
            return 0.0, 0.0
        elapsed = now - base[0]
        if elapsed < RATE_WINDOW_S:
            return self._rates.get(user_id, (0.0, 0.0))
        rates = (
            max(frames_in - base[1], 0) / elapsed,
            max(frames_out - base[2], 0) / elapsed,
        )
        self._base[user_id] = (now, frames_in, frames_out)
        self._rates[user_id] = rates
        return rates

    def forget_others(self, live: set[str]) -> None:
        for user in [u for u in self._base if u not in live]:
            self._base.pop(user, None)
            self._rates.pop(user, None)


def _rounded(level: float | None) -> float | None:
    return None if level is None else round(level, 1)


class Snapshots:
    def __init__(self, registry: SessionRegistry, stats: Stats) -> None:
        self._registry = registry
        self._stats = stats
        self._shared_rates = FrameRates()  # ListSessions and the metrics endpoint
        self._shared_levels = LevelWindows(RATE_WINDOW_S)

    def session_info(
        self, session: Session, now: float, rates: FrameRates, levels: LevelWindows
    ) -> admin_pb.SessionInfo:
        rate_in, rate_out = rates.read(session.user_id, now, session.frames_in, session.frames_out)
        tracks = list(session.tracks)
        level_in = levels.read(
            (session.user_id, "in"),
            now,
            sum(t.level.energy for t in tracks),
            sum(t.level.samples for t in tracks),
        )
        out = session.outbox.level
        level_out = levels.read((session.user_id, "out"), now, out.energy, out.samples)
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
            frames_in_per_s=round(rate_in, 2),
            frames_out_per_s=round(rate_out, 2),
            drops=session.outbox.dropped_frames,
            playbacks=playbacks,
            last_disconnect_reason=session.last_disconnect_reason,
            age_s=round(now - session.created_at, 1),
            state=session.state.value,
            frames_in=session.frames_in,
            frames_out=session.frames_out,
            level_in_dbfs=_rounded(level_in),
            level_out_dbfs=_rounded(level_out),
        )

    def sessions(
        self, rates: FrameRates | None = None, levels: LevelWindows | None = None
    ) -> list[admin_pb.SessionInfo]:
        rates = rates or self._shared_rates
        levels = levels or self._shared_levels
        now = time.monotonic()
        infos = [self.session_info(s, now, rates, levels) for s in self._registry]
        live = {s.user_id for s in infos}
        rates.forget_others(live)
        levels.forget_others(live)
        return infos

    def take(
        self,
        include_sessions: bool = True,
        rates: FrameRates | None = None,
        levels: LevelWindows | None = None,
    ) -> admin_pb.StatsSnapshot:
        sessions = self.sessions(rates, levels) if include_sessions else []
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
            max_sessions=self._registry.max_sessions,
            max_joins_in_flight=self._registry.max_joins_in_flight,
            joins_in_flight=self._registry.joins_in_progress,
            joins_refused=self._registry.joins_refused,
            joins_abandoned=self._registry.joins_abandoned,
            drops_in=sum(s.dropped_in_chunks for s in live),
            stalls=STALLS.count,
            cpu_busy_percent=self._registry.cpu_busy_percent,
            max_cpu=self._registry.max_cpu,
        )
        return admin_pb.StatsSnapshot(
            timestamp_ms=time.time_ns() // 1_000_000,
            process=process_stats(self._stats),
            totals=totals,
            sessions=sessions,
        )


class BridgeAdminService(admin_grpc.BridgeAdminServicer):  # type: ignore[misc]
    def __init__(self, snapshots: Snapshots) -> None:
        self._snapshots = snapshots

    async def WatchStats(
        self, request: admin_pb.WatchStatsRequest, context: grpc.aio.ServicerContext
    ) -> None:
        interval = max(request.interval_ms or 1000, 100) / 1000
        rates, levels = FrameRates(), LevelWindows(RATE_WINDOW_S)  # this viewer's own windows
        while True:
            await context.write(self._snapshots.take(request.include_sessions, rates, levels))
            await asyncio.sleep(interval)

    async def ListSessions(
        self, request: admin_pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb.ListSessionsResponse:
        return admin_pb.ListSessionsResponse(sessions=self._snapshots.sessions())

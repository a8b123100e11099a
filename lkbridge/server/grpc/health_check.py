"""LiveKitBridge's own HealthCheck answer, the same for a single bridge and for a front.

The front adds its workers' figures up before it calls these (front/server.py), so a caller reads
the same keys either way; the front's answer adds `workers` and `workers_up`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.server.config import SERVICE_NAME
from lkbridge.server.eventloop import running_loop_name


@dataclass(frozen=True)
class HealthFigures:
    tasks: int
    rss_mb: float
    threads: int
    open_fds: int
    sessions_created: int
    streams_total: int
    # room audio dropped for slow readers, by the sessions alive now (as admin's totals)
    dropped_frames: int
    dropped_bytes: int
    # client audio a stall of the bridge made late past the source queue's bound, dropped
    dropped_in_chunks: int
    dropped_in_ms: int
    # stalls of the process's event loop (overload, a freeze) and their time, since start
    stalls: int
    stalled_s: float
    # admission (registry.py): the bounds and where the bridge stands against them; a front
    # adds its workers' up (each worker holds its own --max-sessions)
    max_sessions: int
    max_joins_in_flight: int
    joins_in_flight: int
    joins_refused: int
    joins_abandoned: int
    # CPU seconds (user + system) since start: a load run's sampler plots its rate over time
    cpu_s: float = 0.0
    # admission by CPU (cpu_load.py): use over the last 5 s, % of what the process may use (a
    # front: its busiest worker's), and the bound (0: off)
    cpu_busy_percent: float = 0.0
    max_cpu: float = 0.0


def health_status(service: str, serving: bool) -> pb.HealthCheckResponse.ServingStatus:
    if service not in ("", SERVICE_NAME):
        return pb.HealthCheckResponse.SERVICE_UNKNOWN
    return pb.HealthCheckResponse.SERVING if serving else pb.HealthCheckResponse.NOT_SERVING


def health_metadata(version: str, figures: HealthFigures, **extra: str) -> dict[str, str]:
    return {
        "version": version,
        "loop": running_loop_name(),
        **extra,
        "tasks": str(figures.tasks),
        "rss_mb": f"{figures.rss_mb:.1f}",
        "threads": str(figures.threads),
        "open_fds": str(figures.open_fds),
        "sessions_created": str(figures.sessions_created),
        "streams_total": str(figures.streams_total),
        "dropped_frames": str(figures.dropped_frames),
        "dropped_bytes": str(figures.dropped_bytes),
        "dropped_in_chunks": str(figures.dropped_in_chunks),
        "dropped_in_ms": str(figures.dropped_in_ms),
        "stalls": str(figures.stalls),
        "stalled_s": f"{figures.stalled_s:.2f}",
        "max_sessions": str(figures.max_sessions),
        "max_joins_in_flight": str(figures.max_joins_in_flight),
        "joins_in_flight": str(figures.joins_in_flight),
        "joins_refused": str(figures.joins_refused),
        "joins_abandoned": str(figures.joins_abandoned),
        "cpu_s": f"{figures.cpu_s:.2f}",
        "cpu_busy_percent": f"{figures.cpu_busy_percent:.1f}",
        "max_cpu": f"{figures.max_cpu:g}",
    }

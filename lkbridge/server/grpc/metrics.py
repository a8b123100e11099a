"""Prometheus text exposition of the admin snapshot, on `lkbridge serve --metrics-port`.

Process and total figures only: per-user labels would grow without bound with the users.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb

if TYPE_CHECKING:
    from aiohttp import web

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(snapshot: admin_pb.StatsSnapshot) -> str:
    p, t = snapshot.process, snapshot.totals
    metrics: list[tuple[str, str, str, float]] = [
        ("lkbridge_uptime_seconds", "gauge", "Seconds since the bridge started.", p.uptime_s),
        ("lkbridge_resident_memory_bytes", "gauge", "Resident set size.", p.rss_mb * 2**20),
        ("lkbridge_cpu_percent", "gauge", "CPU % of one core since the last scrape.",
         p.cpu_percent),
        ("lkbridge_threads", "gauge", "OS threads of the process.", p.threads),
        ("lkbridge_asyncio_tasks", "gauge", "asyncio tasks alive.", p.tasks),
        ("lkbridge_open_fds", "gauge", "Open file descriptors.", p.open_fds),
        ("lkbridge_event_loop_lag_seconds", "gauge", "How late the event loop wakes up.",
         p.loop_lag_ms / 1000),
        ("lkbridge_sessions", "gauge", "Bridge sessions (users).", t.sessions),
        ("lkbridge_streams", "gauge", "Open StreamAudio calls.", t.streams),
        ("lkbridge_playbacks", "gauge", "Playbacks in progress.", t.playbacks),
        ("lkbridge_frames_in", "gauge", "Client->room frames of the live sessions.", t.frames_in),
        ("lkbridge_frames_out", "gauge", "Room->client frames of the live sessions.",
         t.frames_out),
        ("lkbridge_bytes_in", "gauge", "Client->room bytes of the live sessions.", t.bytes_in),
        ("lkbridge_bytes_out", "gauge", "Room->client bytes of the live sessions.", t.bytes_out),
        ("lkbridge_dropped_frames", "gauge",
         "Room->client frames of the live sessions dropped for slow readers (oldest first).",
         t.drops),
        ("lkbridge_dropped_in_chunks", "gauge",
         "Client->room chunks of the live sessions dropped as late after a stall of the bridge.",
         t.drops_in),
        ("lkbridge_stalls_total", "counter",
         "Stalls of the event loop (overload, a stopped process) since start.", t.stalls),
        ("lkbridge_errors_total", "counter", "Failed joins, playbacks and bad streams.",
         t.errors),
        ("lkbridge_sessions_created_total", "counter", "Sessions joined since start.",
         t.sessions_created),
        ("lkbridge_max_sessions", "gauge", "Sessions held or joining before JoinRoom is "
         "refused (--max-sessions; a front: its workers' sum).", t.max_sessions),
        ("lkbridge_max_joins_in_flight", "gauge", "JoinRooms connecting at once before more are "
         "refused (--max-joins-in-flight).", t.max_joins_in_flight),
        ("lkbridge_joins_in_flight", "gauge", "JoinRooms connecting now (abandoned ones too).",
         t.joins_in_flight),
        ("lkbridge_joins_refused_total", "counter", "JoinRooms refused at a bound.",
         t.joins_refused),
        ("lkbridge_joins_abandoned_total", "counter", "JoinRooms given up while under way "
         "(their rooms left at once).", t.joins_abandoned),
        ("lkbridge_cpu_busy_ratio", "gauge", "CPU used over the last 5 s, of what the process "
         "may use (a front: its busiest worker's).", t.cpu_busy_percent / 100),
        ("lkbridge_max_cpu_ratio", "gauge", "The CPU use past which JoinRoom is refused "
         "(--max-cpu; 0: off).", t.max_cpu / 100),
    ]  # fmt: skip
    lines = []
    for name, kind, help_text, value in metrics:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value:g}"]
    lines += [
        "# HELP lkbridge_build_info The running version.",
        "# TYPE lkbridge_build_info gauge",
        f'lkbridge_build_info{{version="{p.version}"}} 1',
    ]
    return "\n".join(lines) + "\n"


SnapshotSource = Callable[[], Awaitable[admin_pb.StatsSnapshot]]


async def start_metrics_server(snapshot: SnapshotSource, host: str, port: int) -> web.AppRunner:
    """Serve /metrics; `snapshot` gives the figures (this process's, or a front's merged ones).

    aiohttp is imported here, not with the module: a bridge without metrics never loads it.
    """
    from aiohttp import web

    async def metrics(request: web.Request) -> web.Response:
        body = render(await snapshot())
        return web.Response(body=body.encode(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner

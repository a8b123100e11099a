"""bench/sessions.py's results: one Result per run, and the table it prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    sessions: int
    content: str
    bridge_src: str  # the variant: --bridge-src checkout, niceness ("" when only one)
    packet_split: dict[str, dict[str, float]]  # --trace-packets: device -> client in parts
    go_packet_split: dict[str, dict[str, float]]  # ... of the Go devices' rooms only
    publish_bitrate: int
    duration_s: float
    baseline_rss_mb: float
    rss_mb: float
    rss_per_session_mb: float
    baseline_tasks: int
    tasks: int
    tasks_per_session: float
    threads: int
    cpu_percent: float
    cpu_per_session: float
    bridge_in_p50_ms: float
    bridge_in_p99_ms: float
    bridge_in_ack_p50_ms: float
    bridge_in_ack_p99_ms: float
    bridge_out_p50_ms: float
    bridge_out_p99_ms: float
    e2e_device_to_client_p50_ms: float
    e2e_device_to_client_p99_ms: float
    client_to_device_p50_ms: float
    client_to_device_p95_ms: float
    frames_to_client: int
    frames_expected: int
    after_leave_rss_mb: float
    after_leave_tasks: int
    after_leave_fds: int
    baseline_fds: int
    heard_correlation: float
    heard_worst_turn: float
    heard_loud_s: float
    sent_loud_s: float
    speaker_kbps: float
    encoder_thread_percent: float
    bridge_queue_p50_ms: float = float("nan")
    bridge_queue_p99_ms: float = float("nan")
    after_leave_threads: int = 0
    baseline_threads: int = 0
    sfu_cpu_percent: float = float("nan")  # % of one core, over the same window as the bridge's
    load_cpu_percent: float = float("nan")  # the load generator's: Go devices and workers
    go_devices_late_p99_ms: float = float("nan")  # bench/godevices's sends against schedule
    clients_late_p99_ms: float = float("nan")  # the load workers' client chunks and devices
    overrun: str = ""  # why the load generator overran (bench/capacity.py); "": the run counts
    notes: list[str] = field(default_factory=list)


def run_label(n: int, content: str, bitrate: int, source: str = "") -> str:
    return (
        f"N={n} {content}"
        + (f" @{bitrate // 1000}k" if bitrate else "")
        + (f" [{source}]" if source else "")
    )


def result_label(r: Result) -> str:
    return run_label(r.sessions, r.content, r.publish_bitrate, r.bridge_src)


def print_table(results: list[Result]) -> None:
    rows: list[tuple[str, str | Callable[[Result], object]]] = [
        ("sessions", "sessions"),
        ("variant (--bridge-src, nice)", lambda r: r.bridge_src or "-"),
        ("content, publish bitrate", lambda r: f"{r.content} {r.publish_bitrate or 'default'}"),
        ("RSS MB (baseline -> loaded)", lambda r: f"{r.baseline_rss_mb} -> {r.rss_mb}"),
        ("RSS per session MB", "rss_per_session_mb"),
        ("asyncio tasks (baseline -> loaded)", lambda r: f"{r.baseline_tasks} -> {r.tasks}"),
        ("tasks per session", "tasks_per_session"),
        ("threads", "threads"),
        ("CPU % of one core (per session)", lambda r: f"{r.cpu_percent} ({r.cpu_per_session})"),
        (
            "bridge in p50/p99 ms (gRPC -> capture_frame called)",
            lambda r: f"{r.bridge_in_p50_ms:.2f} / {r.bridge_in_p99_ms:.2f}",
        ),
        (
            "  ... -> capture_frame returned p50/p99 ms",
            lambda r: f"{r.bridge_in_ack_p50_ms:.2f} / {r.bridge_in_ack_p99_ms:.2f}",
        ),
        (
            "  queue ahead of a chunk in its source p50/p99 ms",
            lambda r: f"{r.bridge_queue_p50_ms:.2f} / {r.bridge_queue_p99_ms:.2f}",
        ),
        (
            "bridge out p50/p99 ms (packet -> gRPC write)",
            lambda r: f"{r.bridge_out_p50_ms:.2f} / {r.bridge_out_p99_ms:.2f}",
        ),
        (
            "device -> client p50/p99 ms",
            lambda r: f"{r.e2e_device_to_client_p50_ms} / {r.e2e_device_to_client_p99_ms}",
        ),
        (
            "client -> device p50/p95 ms",
            lambda r: f"{r.client_to_device_p50_ms} / {r.client_to_device_p95_ms}",
        ),
        ("frames to client / expected", lambda r: f"{r.frames_to_client} / {r.frames_expected}"),
        ("encoder thread % of a core per session", "encoder_thread_percent"),
        (
            "device heard: envelope correlation (worst turn)",
            lambda r: f"{r.heard_correlation} ({r.heard_worst_turn})",
        ),
        ("device heard: loud s heard / sent", lambda r: f"{r.heard_loud_s} / {r.sent_loud_s}"),
        ("device heard: speaker track kbit/s", "speaker_kbps"),
        (
            "after leave: RSS MB, tasks, fds (baseline fds)",
            lambda r: (
                f"{r.after_leave_rss_mb}, {r.after_leave_tasks}, "
                f"{r.after_leave_fds} ({r.baseline_fds})"
            ),
        ),
        (
            "after leave: threads (baseline)",
            lambda r: f"{r.after_leave_threads} ({r.baseline_threads})",
        ),
        (
            "CPU %: SFU, load generator",
            lambda r: f"{r.sfu_cpu_percent:.0f}, {r.load_cpu_percent:.0f}",
        ),
        (
            "generator late p99 ms: Go devices, clients",
            lambda r: f"{r.go_devices_late_p99_ms:.1f}, {r.clients_late_p99_ms:.1f}",
        ),
        ("run", lambda r: f"DISCARDED ({r.overrun})" if r.overrun else "kept"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, get in rows:
        cells = [str(getattr(r, get) if isinstance(get, str) else get(r)) for r in results]
        print(f"{label:<{width}}  " + "  ".join(f"{c:>18}" for c in cells))

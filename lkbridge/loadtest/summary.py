"""The figures a load run ends with, as one JSON-able dict and as a dozen lines of text.

Built on the master (or the only process) from locust's aggregated stats, the bridge samples and
the gates; `lkbridge loadtest` prints `format_text` of it, or the dict with `--json`. Locust's
own tables stay in the run's log and CSV files. No locust import: the stats are read by duck
typing, so the CLI can format a summary without loading gevent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from lkbridge.loadtest.gates import Sample, Verdict

AUDIO = "audio"
LATENCY = "device->client"  # one request per received chunk: its device -> client latency
HOLE = "hole"  # packets lost between device and client: response time = audio missing
STALL = "stall"  # no audio for longer than the stall limit: response time = the gap


class Entry(Protocol):
    """The part of locust's StatsEntry read here."""

    @property
    def name(self) -> str: ...
    @property
    def method(self) -> str | None: ...
    @property
    def num_requests(self) -> int: ...
    @property
    def num_failures(self) -> int: ...
    @property
    def max_response_time(self) -> float: ...
    @property
    def total_response_time(self) -> float: ...

    def get_response_time_percentile(self, percent: float) -> float: ...


def percentiles(entry: Entry) -> dict[str, float]:
    if not entry.num_requests:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    top = round(float(entry.max_response_time), 1)
    # locust keeps response times rounded to 2 significant digits (227 ms counts as 230): a
    # percentile is its bucket, the max is exact, and no percentile may read above the max
    return {
        f"p{int(q * 100)}": min(float(entry.get_response_time_percentile(q)), top)
        for q in (0.5, 0.95, 0.99)
    } | {"max": top}


def _range(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"first": values[0], "last": values[-1], "min": min(values), "max": max(values)}


def build(
    *,
    entries: Iterable[Entry],
    empty: Entry,
    fail_ratio: float,
    samples: list[Sample],
    verdict: Verdict,
    peak_users: int,
    duration_s: float,
    workers: int,
) -> dict[str, Any]:
    """`empty` stands in for an audio row nobody fired (no hole, no stall)."""
    by_key = {(e.method, e.name): e for e in entries}
    latency = by_key.get((AUDIO, LATENCY), empty)
    hole = by_key.get((AUDIO, HOLE), empty)
    stall = by_key.get((AUDIO, STALL), empty)
    others = [
        {
            "type": e.method,
            "name": e.name,
            "count": e.num_requests,
            "failures": e.num_failures,
            **{k: v for k, v in percentiles(e).items() if k in ("p50", "p95", "max")},
        }
        for (method, name), e in sorted(by_key.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
        if (method, name) not in {(AUDIO, LATENCY), (AUDIO, HOLE), (AUDIO, STALL)}
    ]
    return {
        "users": peak_users,
        "workers": workers,
        "duration_s": round(duration_s, 1),
        "audio": {
            "frames": latency.num_requests,
            "latency_ms": percentiles(latency),
            "holes": hole.num_requests,
            "missing_ms": round(float(hole.total_response_time)),
            "stalls": stall.num_requests,
            "longest_stall_ms": round(float(stall.max_response_time)),
        },
        "requests": others,
        "fail_ratio": fail_ratio,
        "bridge": {
            "samples": len(samples),
            "rss_mb": _range([s.rss_mb for s in samples]),
            "tasks": _range([float(s.tasks) for s in samples]),
            "sessions_max": max((s.sessions for s in samples), default=0),
            "streams_max": max((s.streams for s in samples), default=0),
        },
        "gates": {"passed": verdict.passed, "lines": verdict.lines},
    }


def format_text(summary: dict[str, Any]) -> str:
    audio, bridge = summary["audio"], summary["bridge"]
    lat = audio["latency_ms"]
    lines = [
        f"load run: {summary['users']} users, {summary['duration_s']:.0f} s"
        + (f", {summary['workers']} worker processes" if summary["workers"] > 1 else ""),
        f"device->client latency: p50 {lat['p50']:.0f} ms  p95 {lat['p95']:.0f} ms  "
        f"p99 {lat['p99']:.0f} ms  max {lat['max']:.0f} ms  ({audio['frames']} frames)",
        f"holes: {audio['holes']} ({audio['missing_ms']} ms of audio lost), stalls: "
        f"{audio['stalls']} (longest {audio['longest_stall_ms']} ms)",
    ]
    if bridge["samples"]:
        rss, tasks = bridge["rss_mb"], bridge["tasks"]
        lines.append(
            f"bridge: RSS {rss['first']:.0f} -> {rss['last']:.0f} MB (max {rss['max']:.0f}), "
            f"tasks {tasks['first']:.0f} -> {tasks['last']:.0f} (max {tasks['max']:.0f}), "
            f"sessions max {bridge['sessions_max']}  ({bridge['samples']} samples)"
        )
    else:
        lines.append("bridge: no HealthCheck answer during the run")
    for row in summary["requests"]:
        lines.append(
            f"  {row['name']:<22} {row['count']:>6}  failed {row['failures']:<4} "
            f"p50 {row['p50']:.0f} ms  p95 {row['p95']:.0f} ms"
        )
    lines.extend(f"gate: {line}" for line in summary["gates"]["lines"])
    lines.append("gates: PASS" if summary["gates"]["passed"] else "gates: FAIL")
    return "\n".join(lines)

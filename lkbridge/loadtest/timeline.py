"""A load run over time: one row every few seconds of what the bridge reports (RSS, tasks, fds,
CPU) and of what the users measured in that interval alone (chunks/s, latency percentiles,
holes, stalls, failures).

The master's sampler (scenarios.py) feeds locust's cumulative stats in; the interval's figures
are the difference from the previous look, so a latency spike in hour 20 of a soak shows in
hour 20 instead of vanishing into the whole run's percentiles. The rows go to timeline.csv,
the last one to live.json (what `lkbridge loadtest` shows on a terminal while it runs), and all
of them to the soak page. Pure logic: no locust import, unit-tested.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lkbridge.loadtest.gates import Sample

TIMELINE_CSV = "timeline.csv"
LIVE_JSON = "live.json"


@dataclass(frozen=True)
class Row:
    t_s: float
    users: int
    # the bridge's HealthCheck; -1 where it did not answer in time
    rss_mb: float
    tasks: int
    open_fds: int
    cpu_pct: float
    sessions: int
    streams: int
    threads: int  # the process's OS threads (the SDK's and gRPC's native ones too)
    # the users' figures in the interval since the previous row
    chunks_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    holes: int
    stalls: int
    failures: int

    def sample(self) -> Sample | None:
        """The gates' view of this row; None where the bridge did not answer."""
        if self.rss_mb < 0:
            return None
        return Sample(t_s=self.t_s, rss_mb=self.rss_mb, tasks=self.tasks, open_fds=self.open_fds,
                      sessions=self.sessions, streams=self.streams)  # fmt: skip


COLUMNS = [f.name for f in fields(Row)]


@dataclass(frozen=True)
class Counts:
    """Cumulative figures as locust holds them at one moment."""

    latency_times: Mapping[int, int]  # rounded ms -> count, of every device->client chunk
    latency_max_ms: float
    holes: int
    stalls: int
    failures: int


@dataclass(frozen=True)
class Bridge:
    rss_mb: float
    tasks: int
    open_fds: int
    cpu_s: float
    sessions: int
    streams: int
    threads: int = -1


def window_percentile(histogram: Mapping[int, int], fraction: float) -> float:
    """The smallest bucket at or above `fraction` of the counts; 0 for an empty histogram."""
    total = sum(histogram.values())
    if total <= 0:
        return 0.0
    need = fraction * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= need:
            return float(bucket)
    return float(max(histogram))


class Timeline:
    """Turns successive looks at the cumulative figures into rows of interval figures."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._counts: Counts | None = None
        self._bridge: tuple[float, float] | None = None  # (t_s, cpu_s) of the last answer
        self._t_s = 0.0

    def add(self, t_s: float, users: int, counts: Counts, bridge: Bridge | None) -> Row:
        before = self._counts or Counts({}, 0.0, 0, 0, 0)
        span = max(t_s - self._t_s, 1e-9) if self._counts is not None else max(t_s, 1e-9)
        window = {
            bucket: count - before.latency_times.get(bucket, 0)
            for bucket, count in counts.latency_times.items()
            if count > before.latency_times.get(bucket, 0)
        }
        chunks = sum(window.values())
        cpu_pct = -1.0
        if bridge is not None:
            if self._bridge is not None and t_s > self._bridge[0]:
                cpu_pct = max(0.0, (bridge.cpu_s - self._bridge[1]) / (t_s - self._bridge[0]))
                cpu_pct = round(cpu_pct * 100, 1)
            self._bridge = (t_s, bridge.cpu_s)
        # to 0.1 ms, as every latency figure of the row: locust's exact max (8.872894) would
        # otherwise reach timeline.csv with digits the soak page's 6 significant ones drop
        top = round(min(float(max(window)), counts.latency_max_ms), 1) if window else 0.0
        row = Row(
            t_s=round(t_s, 1), users=users,
            rss_mb=bridge.rss_mb if bridge else -1.0, tasks=bridge.tasks if bridge else -1,
            open_fds=bridge.open_fds if bridge else -1, cpu_pct=cpu_pct,
            sessions=bridge.sessions if bridge else -1, streams=bridge.streams if bridge else -1,
            threads=bridge.threads if bridge else -1,
            chunks_per_s=round(chunks / span, 2),
            # buckets are rounded (locust keeps 2 significant digits): never above the max seen
            p50_ms=min(window_percentile(window, 0.50), top),
            p95_ms=min(window_percentile(window, 0.95), top),
            p99_ms=min(window_percentile(window, 0.99), top),
            max_ms=top,
            holes=counts.holes - before.holes, stalls=counts.stalls - before.stalls,
            failures=counts.failures - before.failures,
        )  # fmt: skip
        self.rows.append(row)
        self._counts, self._t_s = counts, t_s
        return row


def write_header(handle: object) -> csv.DictWriter[str]:
    writer = csv.DictWriter(handle, fieldnames=COLUMNS)  # type: ignore[arg-type]
    writer.writeheader()
    return writer


def write_live(path: Path, row: Row, elapsed_s: float) -> None:
    """The latest row for the CLI's live line, replaced whole (never read half-written)."""
    part = path.with_suffix(".part")
    part.write_text(json.dumps({**asdict(row), "elapsed_s": round(elapsed_s, 1)}))
    os.replace(part, path)


def read_live(path: Path) -> dict[str, float] | None:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            return data
    return None


def read_rows(path: Path) -> list[Row]:
    """timeline.csv back as rows (the soak page's input); a column a run of an older version
    did not write (threads) reads as -1, unknown."""
    kinds = {f.name: (float if f.type in ("float", float) else int) for f in fields(Row)}
    rows: list[Row] = []
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle):
            with contextlib.suppress(KeyError, ValueError):
                values = {name: kinds[name](float(record.get(name) or -1)) for name in COLUMNS}
                rows.append(Row(**values))  # type: ignore[arg-type]
    return rows

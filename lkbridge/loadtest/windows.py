"""A long run in windows of ten minutes: latency percentiles, audio lost and the bridge's
figures per window, the table a soak's report gives so that hour 2 reads beside hour 1.

Built from timeline.csv's rows, which carry each interval's percentiles, not its histogram: a
window's p50 and p99 are the chunk-weighted medians of its intervals' (the typical interval),
and `p99_worst_ms` is its worst interval's p99, which bounds the window's true p99 from above
(if no interval had more than 1 % of its chunks above X, the window has not either). Pure
logic, unit-tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lkbridge.loadtest.timeline import Row

WINDOW_S = 600.0


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float
    chunks: int
    p50_ms: float
    p99_ms: float
    p99_worst_ms: float
    max_ms: float
    holes: int
    stalls: int
    failures: int
    # the bridge at the window's last answer; -1 where it never answered in the window
    rss_mb: float
    tasks: int
    open_fds: int
    threads: int
    sessions_max: int


def weighted_median(pairs: Sequence[tuple[float, float]]) -> float:
    """The value at half of the total weight of (value, weight) pairs; 0 without weight."""
    total = sum(w for _, w in pairs if w > 0)
    if total <= 0:
        return 0.0
    seen = 0.0
    for value, weight in sorted(pairs):
        seen += max(weight, 0.0)
        if seen >= total / 2:
            return value
    return max(v for v, _ in pairs)


def windows(rows: Sequence[Row], span_s: float = WINDOW_S) -> list[Window]:
    """Consecutive windows of `span_s` from t=0; an interval belongs to the window its row
    (its end) falls in."""
    grouped: dict[int, list[tuple[Row, float]]] = {}
    previous_t = 0.0
    for row in rows:
        interval = max(row.t_s - previous_t, 0.0)
        previous_t = row.t_s
        grouped.setdefault(int(row.t_s // span_s), []).append((row, row.chunks_per_s * interval))
    out: list[Window] = []
    for index in sorted(grouped):
        members = grouped[index]
        heard = [(r, c) for r, c in members if c > 0]
        answered = [r for r, _ in members if r.rss_mb >= 0]
        last = answered[-1] if answered else None
        out.append(
            Window(
                start_s=index * span_s, end_s=min((index + 1) * span_s, members[-1][0].t_s),
                chunks=round(sum(c for _, c in members)),
                p50_ms=weighted_median([(r.p50_ms, c) for r, c in heard]),
                p99_ms=weighted_median([(r.p99_ms, c) for r, c in heard]),
                p99_worst_ms=max((r.p99_ms for r, _ in heard), default=0.0),
                max_ms=max((r.max_ms for r, _ in heard), default=0.0),
                holes=sum(r.holes for r, _ in members), stalls=sum(r.stalls for r, _ in members),
                failures=sum(r.failures for r, _ in members),
                rss_mb=last.rss_mb if last else -1.0, tasks=last.tasks if last else -1,
                open_fds=last.open_fds if last else -1, threads=last.threads if last else -1,
                sessions_max=max((r.sessions for r in answered), default=-1),
            )
        )  # fmt: skip
    return out


HEADER = ("window", "chunks", "p50 ms", "p99 ms", "worst p99", "max ms", "holes", "stalls",
          "failures", "RSS MB", "tasks", "fds", "threads", "sessions")  # fmt: skip


def cells(window: Window) -> tuple[str, ...]:
    def clock(t_s: float) -> str:
        t = int(t_s)
        return f"{t // 3600}:{t // 60 % 60:02d}"

    def known(value: float, digits: int = 0) -> str:
        return "-" if value < 0 else f"{value:.{digits}f}"

    return (
        f"{clock(window.start_s)}-{clock(window.end_s)}", str(window.chunks),
        f"{window.p50_ms:.0f}", f"{window.p99_ms:.0f}", f"{window.p99_worst_ms:.0f}",
        f"{window.max_ms:.0f}", str(window.holes), str(window.stalls), str(window.failures),
        known(window.rss_mb, 1), known(window.tasks), known(window.open_fds),
        known(window.threads), known(window.sessions_max),
    )  # fmt: skip


def markdown(found: Sequence[Window]) -> str:
    """The windows as a Markdown table (docs/benchmarks.md takes it as it is)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines.extend("| " + " | ".join(cells(w)) + " |" for w in found)
    return "\n".join(lines)

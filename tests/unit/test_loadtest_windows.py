"""A soak's ten-minute windows: which interval falls where, chunk-weighted medians, the worst
interval's p99 as the window's bound, and the bridge's last answer in each."""

from __future__ import annotations

from lkbridge.loadtest.timeline import Row
from lkbridge.loadtest.windows import markdown, weighted_median, windows


def row(t_s: float, p50: float = 10.0, p99: float = 40.0, chunks_per_s: float = 80.0,
        rss: float = 150.0, holes: int = 0) -> Row:  # fmt: skip
    return Row(t_s=t_s, users=8, rss_mb=rss, tasks=48, open_fds=150, threads=50, cpu_pct=50.0,
               sessions=8, streams=8, chunks_per_s=chunks_per_s, p50_ms=p50, p95_ms=p99,
               p99_ms=p99, max_ms=p99 + 5, holes=holes, stalls=0, failures=0)  # fmt: skip


def test_weighted_median() -> None:
    assert weighted_median([]) == 0.0
    assert weighted_median([(5.0, 1.0), (100.0, 0.5)]) == 5.0
    assert weighted_median([(5.0, 1.0), (100.0, 3.0)]) == 100.0
    assert weighted_median([(5.0, 0.0)]) == 0.0


def test_rows_fall_into_ten_minute_windows() -> None:
    rows = [row(t * 3.0) for t in range(1, 400)]  # 0:00:03 .. 0:19:57
    rows[250] = row(rows[250].t_s, p50=300.0, p99=2000.0, holes=3)  # one bad interval at 12:33
    rows[-1] = row(rows[-1].t_s, rss=160.0)
    first, second = windows(rows)
    assert (first.start_s, second.start_s) == (0.0, 600.0)
    assert first.chunks == round(80.0 * 3.0 * 199)  # rows 3 s .. 597 s, 3 s each
    assert (second.p50_ms, second.p99_ms) == (10.0, 40.0)  # one interval moves no median
    assert second.p99_worst_ms == 2000.0 and second.max_ms == 2005.0 and second.holes == 3
    assert (first.p99_worst_ms, first.holes) == (40.0, 0)
    assert second.rss_mb == 160.0 and first.rss_mb == 150.0 and second.threads == 50
    table = markdown([first, second]).splitlines()
    assert table[0].startswith("| window | chunks") and len(table) == 4
    assert table[3].startswith("| 0:10-0:19 |")


def test_a_window_without_answers_or_audio_says_so() -> None:
    silent = Row(t_s=5.0, users=8, rss_mb=-1.0, tasks=-1, open_fds=-1, threads=-1, cpu_pct=-1.0,
                 sessions=-1, streams=-1, chunks_per_s=0.0, p50_ms=0.0, p95_ms=0.0, p99_ms=0.0,
                 max_ms=0.0, holes=0, stalls=2, failures=2)  # fmt: skip
    (only,) = windows([silent])
    assert only.chunks == 0 and only.p99_worst_ms == 0.0 and only.rss_mb == -1.0
    assert only.stalls == 2 and "| - |" in markdown([only])

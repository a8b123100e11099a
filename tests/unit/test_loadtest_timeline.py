"""A load run over time: interval figures from locust's cumulative ones, the summary's
percentiles never above its max, and the soak page's plots carrying the rows they draw."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from dataclasses import asdict
from html.parser import HTMLParser
from pathlib import Path

from lkbridge.loadtest.soakpage import MAX_POINTS, downsample, render
from lkbridge.loadtest.timeline import (
    COLUMNS,
    Bridge,
    Counts,
    Row,
    Timeline,
    read_rows,
    window_percentile,
)

ROUNDED = """
import json
from locust.stats import RequestStats, StatsEntry
from lkbridge.loadtest.summary import percentiles
entry = StatsEntry(RequestStats(), "device->client", "audio")
for value in [5] * 98 + [227, 227]:
    entry.log(value, 100)
print(json.dumps([entry.get_response_time_percentile(0.99), percentiles(entry)]))
"""


def test_percentiles_of_rounded_buckets_never_exceed_the_max() -> None:
    """Locust stores 227 ms as 230: the summary printed `p99 230 ms  max 227 ms`. (Locust
    patches the whole process with gevent when imported: a child of its own reads it.)"""
    done = subprocess.run([sys.executable, "-c", ROUNDED], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    locusts, figures = json.loads(done.stdout)
    assert locusts == 230  # locust's own figure
    assert figures["max"] == 227.0
    assert figures["p99"] == 227.0 and figures["p50"] == 5.0
    assert figures["p50"] <= figures["p95"] <= figures["p99"] <= figures["max"]


def test_latency_figures_are_kept_to_a_tenth_of_a_ms() -> None:
    """Locust's exact max (8.872894 ms) bounds the buckets above it: the row kept its digits,
    which the soak page's 6 significant ones dropped (the page and timeline.csv disagreed)."""
    row = Timeline().add(3.0, 1, Counts({10: 30}, 8.872894, 0, 0, 0), None)
    assert (row.p50_ms, row.p95_ms, row.p99_ms, row.max_ms) == (8.9, 8.9, 8.9, 8.9)


def test_window_percentile() -> None:
    assert window_percentile({}, 0.5) == 0.0
    histogram = {10: 50, 20: 45, 300: 5}
    assert window_percentile(histogram, 0.5) == 10.0
    assert window_percentile(histogram, 0.95) == 20.0
    assert window_percentile(histogram, 0.99) == 300.0


def test_rows_hold_what_happened_in_their_interval_alone() -> None:
    timeline = Timeline()
    bridge = Bridge(rss_mb=100.0, tasks=20, open_fds=30, cpu_s=1.0, sessions=2, streams=2,
                    threads=40)  # fmt: skip
    first = timeline.add(3.0, 2, Counts({10: 30}, 12.0, 0, 0, 0), bridge)
    assert first.chunks_per_s == 10.0 and first.p50_ms == 10.0 and first.cpu_pct == -1.0
    later = Bridge(rss_mb=101.0, tasks=21, open_fds=30, cpu_s=1.6, sessions=2, streams=2,
                   threads=41)  # fmt: skip
    # the second interval: 60 chunks, 57 at 10 ms and 3 at 400 ms; one hole, one failure
    second = timeline.add(6.0, 2, Counts({10: 87, 400: 3}, 403.0, 1, 0, 1), later)
    assert second.chunks_per_s == 20.0
    assert second.p50_ms == 10.0 and second.p99_ms == 400.0 and second.max_ms == 400.0
    assert (second.holes, second.stalls, second.failures) == (1, 0, 1)
    assert second.cpu_pct == 20.0  # 0.6 CPU seconds in 3 s
    assert second.threads == 41
    silent = timeline.add(9.0, 2, Counts({10: 87, 400: 3}, 403.0, 1, 0, 1), None)
    assert silent.chunks_per_s == 0.0 and silent.p95_ms == 0.0 and silent.holes == 0
    assert silent.rss_mb == -1.0 and silent.sample() is None
    assert [r.sample() is not None for r in timeline.rows] == [True, True, False]


def _rows(count: int) -> list[Row]:
    return [
        Row(t_s=3.0 * i, users=4, rss_mb=100.0 + 0.5 * i, tasks=40 + i % 3, open_fds=50,
            threads=30, cpu_pct=12.5, sessions=4, streams=4, chunks_per_s=40.0, p50_ms=8.0 + i,
            p95_ms=30.0 + i, p99_ms=60.0 + i, max_ms=90.0, holes=i % 2, stalls=0, failures=0)
        for i in range(count)
    ]  # fmt: skip


class _Lines(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, tuple[list[float], list[float]]] = {}
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        if tag == "polyline" and found.get("data-series"):
            times = [float(v) for v in (found["data-t"] or "").split()]
            values = [float(v) for v in (found["data-v"] or "").split()]
            self.lines[str(found["data-series"])] = (times, values)


def test_the_soak_page_plots_every_row_and_the_fitted_slopes() -> None:
    rows = _rows(40)
    summary = {
        "users": 4,
        "duration_s": 117.0,
        "gates": {
            "passed": False,
            "lines": [
                "PASS failure ratio 0.000 (max 0.01)",
                "FAIL RSS slope over the plateau 600 MB/h",
            ],
        },
    }
    page = render(rows, summary)
    parsed = _Lines()
    parsed.feed(page)
    assert "script" not in parsed.tags and "http://" not in page and "https://" not in page
    rss_t, rss_v = parsed.lines["RSS"]
    assert rss_t == [r.t_s for r in rows] and rss_v == [r.rss_mb for r in rows]
    assert parsed.lines["p95"][1] == [r.p95_ms for r in rows]
    assert parsed.lines["holes"][1] == [float(r.holes) for r in rows]
    assert parsed.lines["CPU"][1] == [12.5] * 40
    fitted = [name for name in parsed.lines if name.startswith("RSS fit ")]
    assert fitted == ["RSS fit +600 MB/h"]  # 0.5 MB every 3 s
    assert re.search(r"<td>RSS</td><td>\+600 MB/h</td><td>± 0</td>", page)  # a straight line
    assert parsed.lines["threads fit +0 /h"][1] == [30.0, 30.0]
    assert "FAIL RSS slope over the plateau" in page and 'class="fail">FAIL</span>' in page


def test_a_long_run_keeps_each_buckets_worst_value() -> None:
    points = [(float(t), 1.0) for t in range(10 * MAX_POINTS)]
    points[7777] = (7777.0, 99.0)  # one spike in a day of flat figures
    kept = downsample(points)
    assert len(kept) <= MAX_POINTS and max(v for _, v in kept) == 99.0
    assert kept[-1][0] == points[-1][0]


def test_a_timeline_of_an_older_version_reads_back_with_threads_unknown(tmp_path: Path) -> None:
    """Runs before the threads column stay readable (the soak page of an old run is redrawn
    from its timeline.csv): the column reads -1, and no threads line is fitted."""
    rows = _rows(30)
    old = tmp_path / "timeline.csv"
    with old.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[c for c in COLUMNS if c != "threads"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: v for k, v in asdict(row).items() if k != "threads"})
    back = read_rows(old)
    assert len(back) == 30 and {r.threads for r in back} == {-1}
    assert [r.rss_mb for r in back] == [r.rss_mb for r in rows]
    parsed = _Lines()
    parsed.feed(render(back, {}))
    assert not any(name.startswith("threads") for name in parsed.lines)

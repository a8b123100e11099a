"""The load test's own figures: the summary (the packets' stamp: tests/unit/test_stamp.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import typer

from lkbridge.cli.loadtest import parse_seconds
from lkbridge.loadtest.gates import Sample, Verdict
from lkbridge.loadtest.summary import AUDIO, HOLE, LATENCY, build, format_text


@dataclass
class Entry:
    name: str
    method: str | None
    values: list[float]
    num_failures: int = 0

    @property
    def num_requests(self) -> int:
        return len(self.values)

    @property
    def max_response_time(self) -> float:
        return max(self.values, default=0.0)

    @property
    def total_response_time(self) -> float:
        return sum(self.values)

    def get_response_time_percentile(self, percent: float) -> float:
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, int(percent * len(ordered)))]


def test_the_summary_keeps_latency_apart_from_other_requests() -> None:
    entries = [
        Entry(LATENCY, AUDIO, [float(v) for v in range(1, 101)]),
        Entry(HOLE, AUDIO, [200.0, 100.0], num_failures=2),
        Entry("GetStatus", "grpc", [3.0, 5.0]),
        Entry("PlayAudio completed", "playback", [1600.0]),
        Entry("stream ended", AUDIO, [0.0], num_failures=1),
    ]
    samples = [Sample(t_s=5.0 * i, rss_mb=120.0 + i, tasks=20 + i, open_fds=30, sessions=3,
                      streams=3) for i in range(4)]  # fmt: skip
    verdict = Verdict()
    verdict.check("device->client p95 latency", 96.0, 500.0, " ms")
    result = build(
        entries=entries, empty=Entry("", AUDIO, []), fail_ratio=2 / 105, samples=samples,
        verdict=verdict, peak_users=3, duration_s=20.04, workers=2,
    )  # fmt: skip
    audio = result["audio"]
    assert audio["frames"] == 100 and audio["latency_ms"]["p95"] == 96.0
    assert audio["holes"] == 2 and audio["missing_ms"] == 300 and audio["stalls"] == 0
    rows = [row["name"] for row in result["requests"]]  # what is not latency, hole or stall
    assert rows == ["stream ended", "GetStatus", "PlayAudio completed"]
    assert result["bridge"]["rss_mb"] == {"first": 120.0, "last": 123.0, "min": 120.0,
                                          "max": 123.0}  # fmt: skip
    text = format_text(result).splitlines()
    assert text[0] == "load run: 3 users, 20 s, 2 worker processes"
    assert text[1].startswith("device->client latency: p50 51 ms  p95 96 ms")
    assert text[-1] == "gates: PASS" and len(text) < 12


def test_durations() -> None:
    assert parse_seconds("90") == 90.0 and parse_seconds("90s") == 90.0
    assert parse_seconds("5m") == 300.0 and parse_seconds("2h") == 7200.0
    for bad in ("soon", "0", "-5m"):
        with pytest.raises(typer.Exit):
            parse_seconds(bad)

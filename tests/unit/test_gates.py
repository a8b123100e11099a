from __future__ import annotations

import pytest

from lkbridge.loadtest.gates import Sample, evaluate_gates, plateau, slope_per_hour


def samples(rss_per_min: float, n: int = 20, sessions: int = 5) -> list[Sample]:
    """A ramp, then n one-minute samples at the plateau."""
    ramp = [Sample(t_s=i * 5.0, rss_mb=80 + i, tasks=16 + i, open_fds=20, sessions=i, streams=i)
            for i in range(sessions)]  # fmt: skip
    flat = [
        Sample(t_s=(sessions + i) * 60.0, rss_mb=100 + rss_per_min * i, tasks=36,
               open_fds=30, sessions=sessions, streams=sessions)
        for i in range(n)
    ]  # fmt: skip
    return ramp + flat


def test_slope_per_hour() -> None:
    assert slope_per_hour([(0, 1.0), (1800, 2.0), (3600, 3.0)]) == pytest.approx(2.0)
    assert slope_per_hour([(0, 1.0), (10, 1.0)]) == 0.0
    assert slope_per_hour([(5, 1.0), (5, 2.0), (5, 3.0)]) == 0.0


def test_plateau_is_the_top_session_count() -> None:
    data = samples(0.0)
    assert len(plateau(data)) == 20 and {s.sessions for s in plateau(data)} == {5}
    assert len(plateau(data, warmup_fraction=0.25)) == 15
    assert plateau([]) == []


def test_gates_pass_a_flat_run_and_fail_a_leak() -> None:
    common = dict(fail_ratio=0.0, latency_p95_ms=40.0, max_fail_ratio=0.01, max_p95_ms=500.0,
                  max_rss_slope_mb_h=100.0, max_task_slope_per_h=100.0,
                  min_plateau_s=600.0)  # fmt: skip
    flat = evaluate_gates(samples=samples(0.0), **common)  # type: ignore[arg-type]
    assert flat.passed, flat.lines
    leak = evaluate_gates(samples=samples(2.0), **common)  # 2 MB/min = 120 MB/h
    assert not leak.passed
    assert any(line.startswith("FAIL RSS slope") for line in leak.lines)
    slow = evaluate_gates(samples=samples(0.0), **(common | {"latency_p95_ms": 900.0}))  # type: ignore[arg-type]
    assert not slow.passed
    assert any(line.startswith("FAIL device->client p95") for line in slow.lines)


def test_growth_gates_skip_a_short_plateau() -> None:
    short = evaluate_gates(
        samples=samples(50.0, n=5), fail_ratio=0.0, latency_p95_ms=1.0, max_fail_ratio=0.01,
        max_p95_ms=500.0, max_rss_slope_mb_h=100.0, max_task_slope_per_h=100.0,
    )  # fmt: skip
    assert short.passed
    assert any(line.startswith("SKIP growth gates") for line in short.lines)

from __future__ import annotations

import math
import random

import pytest

from lkbridge.loadtest.gates import Sample, evaluate_gates, fit_per_hour, plateau, slope_per_hour


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


def test_a_fit_knows_noise_from_growth() -> None:
    """Flat noise: an interval that holds 0; a slow leak under the same noise: one that does
    not; a straight line: an interval of 0."""
    noise = random.Random(7)
    flat = [(t * 10.0, 100 + noise.gauss(0, 1.0)) for t in range(720)]  # 2 h every 10 s
    still = fit_per_hour(flat)
    assert still.holds_zero() and still.ci95_per_hour < 1.0
    leak = fit_per_hour([(t, v + t / 3600 * 3.0) for t, v in flat])  # 3 MB/h
    assert not leak.holds_zero() and abs(leak.per_hour - 3.0) < leak.ci95_per_hour
    line = fit_per_hour([(0, 1.0), (1800, 2.0), (3600, 3.0)])
    assert line.per_hour == pytest.approx(2.0) and line.ci95_per_hour == 0.0
    assert math.isinf(fit_per_hour([(0, 1.0), (1, 2.0)]).ci95_per_hour)


def test_a_fit_widens_for_samples_that_follow_each_other() -> None:
    """A random walk (each sample the last one plus a step) looks like a trend to the ordinary
    standard error; the autocorrelation widens the interval, and counts fewer samples."""
    noise = random.Random(3)
    level, walk = 100.0, []
    for t in range(600):
        level += noise.gauss(0, 0.3)
        walk.append((t * 10.0, level))
    independent = [(t, 100 + noise.gauss(0, 0.3)) for t, _ in walk]
    wide, narrow = fit_per_hour(walk), fit_per_hour(independent)
    assert wide.effective_points < 0.2 * wide.points
    assert narrow.effective_points > 0.5 * narrow.points
    assert wide.ci95_per_hour > 3 * narrow.ci95_per_hour


def test_gates_give_each_growth_slope_with_its_interval() -> None:
    verdict = evaluate_gates(
        samples=samples(0.0), fail_ratio=0.0, latency_p95_ms=40.0, max_fail_ratio=0.01,
        max_p95_ms=500.0, max_rss_slope_mb_h=100.0, max_task_slope_per_h=100.0,
    )  # fmt: skip
    infos = [line for line in verdict.lines if line.startswith("info: RSS slope")]
    assert infos and "±" in infos[0] and "effective samples of 15" in infos[0]

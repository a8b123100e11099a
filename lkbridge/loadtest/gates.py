"""Pass/fail gates of a load run: failure ratio, device -> client p95 latency, and growth over
the plateau.

The latency gate reads device -> client latency alone: the other request types (a GetStatus
round trip, a clip played to its end) measure other things and are reported beside it.

Growth is the least-squares slope of RSS and of the task count over the samples taken while
the session count was at its maximum (the plateau), per hour: a leak shows as a slope, not as
a level. Pure logic, unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    t_s: float
    rss_mb: float
    tasks: int
    open_fds: int
    sessions: int
    streams: int


@dataclass
class Verdict:
    passed: bool = True
    lines: list[str] = field(default_factory=list)

    def check(self, name: str, value: float, limit: float, unit: str = "") -> None:
        ok = value <= limit
        self.passed &= ok
        self.lines.append(
            f"{'PASS' if ok else 'FAIL'} {name} {value:.3f}{unit} (max {limit}{unit})"
        )


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t seconds, value) in value per hour; 0 for < 3 points."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 3600.0


def plateau(samples: list[Sample], warmup_fraction: float = 0.0) -> list[Sample]:
    """The samples taken at the run's highest session count, without the first
    `warmup_fraction` of them (first playbacks and tracks still allocating)."""
    if not samples:
        return []
    top = max(s.sessions for s in samples)
    flat = [s for s in samples if s.sessions == top and top > 0]
    return flat[int(len(flat) * warmup_fraction) :]


def evaluate_gates(
    *,
    samples: list[Sample],
    fail_ratio: float,
    latency_p95_ms: float,
    max_fail_ratio: float,
    max_p95_ms: float,
    max_rss_slope_mb_h: float,
    max_task_slope_per_h: float,
    min_plateau_s: float = 600.0,
) -> Verdict:
    """Growth gates need a plateau of at least `min_plateau_s` (after a 25 % warm-up): a
    slope fitted over seconds extrapolates start-up allocations to absurd hourly rates."""
    verdict = Verdict()
    verdict.check("failure ratio", fail_ratio, max_fail_ratio)
    verdict.check("device->client p95 latency", latency_p95_ms, max_p95_ms, " ms")
    flat = plateau(samples, warmup_fraction=0.25)
    span = flat[-1].t_s - flat[0].t_s if len(flat) > 1 else 0.0
    if span < min_plateau_s:
        verdict.lines.append(
            f"SKIP growth gates: plateau of {span:.0f} s after warm-up (need {min_plateau_s:.0f} s)"
        )
        return verdict
    verdict.check(
        "RSS slope over the plateau", slope_per_hour([(s.t_s, s.rss_mb) for s in flat]),
        max_rss_slope_mb_h, " MB/h",
    )  # fmt: skip
    verdict.check(
        "task slope over the plateau", slope_per_hour([(s.t_s, s.tasks) for s in flat]),
        max_task_slope_per_h, " /h",
    )  # fmt: skip
    verdict.lines.append(f"info: {len(flat)} plateau samples of {len(samples)}")
    return verdict

"""Pass/fail gates of a load run: failure ratio, device -> client p95 latency, and growth over
the plateau.

The latency gate reads device -> client latency alone: the other request types (a GetStatus
round trip, a clip played to its end) measure other things and are reported beside it.

Growth is the least-squares slope of RSS and of the task count over the samples taken while
the session count was at its maximum (the plateau), per hour: a leak shows as a slope, not as
a level. Pure logic, unit-tested.
"""

from __future__ import annotations

import itertools
import math
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
    return fit_per_hour(points).per_hour


# Student's t at 97.5 % for 1..30 degrees of freedom; 1.96 beyond
_T975 = (12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14,
         2.13, 2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05,
         2.05, 2.04)  # fmt: skip


@dataclass(frozen=True)
class Fit:
    """A least-squares slope per hour with its 95 % confidence half-width.

    Samples a few seconds apart are not independent (RSS this second is RSS the last one), so
    the ordinary standard error would claim a precision the run does not have: it is widened by
    the residuals' lag-1 autocorrelation r (the AR(1) factor sqrt((1+r)/(1-r))), and the
    degrees of freedom are those of the effective sample count n(1-r)/(1+r)."""

    per_hour: float
    ci95_per_hour: float  # half-width; inf where there are too few points to judge
    points: int
    effective_points: float

    def holds_zero(self) -> bool:
        """True where the interval includes 0: no growth the run can tell from noise."""
        return abs(self.per_hour) <= self.ci95_per_hour

    def text(self, unit: str) -> str:
        ci = "n/a" if math.isinf(self.ci95_per_hour) else f"{self.ci95_per_hour:.3g}"
        return f"{self.per_hour:+.3g} ± {ci}{unit}"


def fit_per_hour(points: list[tuple[float, float]]) -> Fit:
    """The slope of (t seconds, value) and its confidence; slope 0 for < 3 points."""
    n = len(points)
    if n < 3:
        return Fit(0.0, math.inf, n, float(n))
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return Fit(0.0, math.inf, n, float(n))
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / var
    residuals = [v - mean_v - slope * (t - mean_t) for t, v in points]
    squares = sum(e * e for e in residuals)
    if squares == 0:
        return Fit(slope * 3600.0, 0.0, n, float(n))
    r = sum(a * b for a, b in itertools.pairwise(residuals)) / squares
    r = min(max(r, 0.0), 0.99)  # negative correlation would narrow it: never claimed
    effective = max(n * (1 - r) / (1 + r), 3.0)
    standard_error = math.sqrt(squares / (n - 2) / var) * math.sqrt((1 + r) / (1 - r))
    dof = int(effective) - 2
    t = _T975[dof - 1] if 1 <= dof <= len(_T975) else 1.96
    return Fit(slope * 3600.0, t * standard_error * 3600.0, n, round(effective, 1))


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
    for name, unit, limit, values in (
        ("RSS slope over the plateau", " MB/h", max_rss_slope_mb_h, [s.rss_mb for s in flat]),
        ("task slope over the plateau", " /h", max_task_slope_per_h, [s.tasks for s in flat]),
    ):
        growth = fit_per_hour([(s.t_s, float(v)) for s, v in zip(flat, values, strict=True)])
        verdict.check(name, growth.per_hour, limit, unit)
        verdict.lines.append(
            f"info: {name} {growth.text(unit)} (95 %, "
            f"{growth.effective_points:g} effective samples of {growth.points})"
        )
    verdict.lines.append(f"info: {len(flat)} plateau samples of {len(samples)}")
    return verdict

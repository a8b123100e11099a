"""The one percentile every figure of the project is read with: by rank, no interpolation, so a
p99 is a latency that happened. The server's stats, the lab and the benchmarks share it."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile by rank (no interpolation); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q / 100.0 * len(ordered)))]

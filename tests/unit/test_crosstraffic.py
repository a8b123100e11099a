"""The cross-traffic jitter's pure parts: the burst schedule and the jitter arithmetic."""

from __future__ import annotations

import itertools
import random

import pytest

from lkbridge.devstack.crosstraffic import (
    IP_UDP_HEADER,
    CrossProfile,
    burst_payloads,
    burst_schedule,
    jitter_stats,
)


def test_largest_burst_drains_in_the_nominal_jitter() -> None:
    profile = CrossProfile(rate_kbit=2000, max_delay_ms=30)
    assert profile.max_burst_bytes == 7500  # 2 Mbit/s = 250 bytes per ms
    assert CrossProfile(rate_kbit=2000, max_delay_ms=60).max_burst_bytes == 15000


def test_load_is_the_mean_burst_over_the_mean_gap() -> None:
    # bursts average 3750 bytes = 30 kbit every 75 ms = 400 kbit/s of 2000
    assert CrossProfile(rate_kbit=2000, max_delay_ms=30, mean_gap_ms=75).load == pytest.approx(0.2)


def test_schedule_stays_in_bounds_and_averages_its_gap() -> None:
    profile = CrossProfile(rate_kbit=2000, max_delay_ms=30, mean_gap_ms=75)
    pairs = list(itertools.islice(burst_schedule(profile, random.Random(7)), 20000))
    gaps = [gap for gap, _ in pairs]
    sizes = [size for _, size in pairs]
    assert all(gap >= 0 for gap in gaps)
    assert all(0 <= size <= profile.max_burst_bytes for size in sizes)
    assert sum(gaps) / len(gaps) == pytest.approx(0.075, rel=0.05)
    assert sum(sizes) / len(sizes) == pytest.approx(3750, rel=0.05)


def test_schedule_is_repeatable_from_its_seed() -> None:
    profile = CrossProfile()
    first = list(itertools.islice(burst_schedule(profile, random.Random(3)), 50))
    again = list(itertools.islice(burst_schedule(profile, random.Random(3)), 50))
    other = list(itertools.islice(burst_schedule(profile, random.Random(4)), 50))
    assert first == again
    assert first != other


def test_burst_payloads_add_up_to_the_burst_on_the_link() -> None:
    sizes = burst_payloads(3000, 1250)
    assert sizes == [1250 - IP_UDP_HEADER, 1250 - IP_UDP_HEADER, 500 - IP_UDP_HEADER]
    assert sum(size + IP_UDP_HEADER for size in sizes) == 3000
    assert burst_payloads(2520, 1250) == [1222, 1222]  # a 20-byte rest cannot carry a header
    assert burst_payloads(0, 1250) == []


def test_constant_transit_has_no_jitter() -> None:
    stats = jitter_stats([5_000_000] * 100)
    assert stats.probes == 100
    assert stats.rfc3550_ms == 0
    assert stats.p95_ms == stats.max_ms == 0


def test_rfc3550_estimator_converges_on_the_mean_difference() -> None:
    # transits alternate 0 and 10 ms: |D| is always 10 ms, J -> 10 ms (J += (|D| - J) / 16)
    stats = jitter_stats([0, 10_000_000] * 200)
    assert stats.rfc3550_ms == pytest.approx(10, abs=0.01)
    # after one step J = 10 / 16
    assert jitter_stats([0, 10_000_000]).rfc3550_ms == pytest.approx(0.62, abs=0.01)


def test_delays_are_reported_above_the_smallest_transit() -> None:
    # a clock offset of 1 s between send and receive stamps drops out
    transits = [1_000_000_000 + ms * 1_000_000 for ms in range(100)]
    stats = jitter_stats(transits)
    assert stats.p50_ms == 50
    assert stats.p95_ms == 95
    assert stats.max_ms == 99


def test_no_probes_no_figures() -> None:
    assert jitter_stats([]).probes == 0

"""Per-viewer frame rates: windows of at least a second, one baseline per viewer."""

from __future__ import annotations

import pytest

from lkbridge.server.grpc.admin import RATE_WINDOW_S, FrameRates


def test_first_reading_is_zero_then_rates_over_the_window() -> None:
    rates = FrameRates()
    assert rates.read("u", 0.0, 0, 0) == (0.0, 0.0)
    assert rates.read("u", 2.0, 20, 10) == pytest.approx((10.0, 5.0))


def test_a_reading_inside_the_window_repeats_the_last_rates() -> None:
    rates = FrameRates()
    rates.read("u", 0.0, 0, 0)
    assert rates.read("u", 1.0, 10, 10) == pytest.approx((10.0, 10.0))
    # a 10 ms window here would be a spike or a zero: a second viewer shares this baseline
    assert rates.read("u", 1.0 + RATE_WINDOW_S / 100, 11, 10) == pytest.approx((10.0, 10.0))
    assert rates.read("u", 2.0, 20, 20) == pytest.approx((10.0, 10.0))


def test_two_viewers_do_not_disturb_each_other() -> None:
    one, two = FrameRates(), FrameRates()
    one.read("u", 0.0, 0, 0)
    two.read("u", 0.5, 5, 5)
    assert one.read("u", 1.0, 10, 10) == pytest.approx((10.0, 10.0))
    assert two.read("u", 1.5, 15, 15) == pytest.approx((10.0, 10.0))


def test_counters_that_restart_never_give_negative_rates_and_gone_sessions_are_forgotten() -> None:
    rates = FrameRates()
    rates.read("u", 0.0, 100, 100)
    assert rates.read("u", 1.0, 0, 0) == (0.0, 0.0)
    rates.forget_others(set())
    assert rates.read("u", 2.0, 50, 50) == (0.0, 0.0)  # a new baseline, not 50 frames/s

"""The level meter behind the admin service's per-session dBFS figures."""

from __future__ import annotations

import math

import numpy as np

from lkbridge.audio.meter import FLOOR_DBFS, LevelMeter, LevelWindows, level_dbfs
from lkbridge.audio.signal import dbfs, tone


def test_the_meter_reads_a_tone_at_its_level_over_each_window() -> None:
    meter, windows = LevelMeter(), LevelWindows(window_s=1.0)
    loud, quiet = tone(440, 1.0, amplitude=0.5), tone(440, 1.0, amplitude=0.05)
    assert windows.read(("u", "out"), 0.0, meter.energy, meter.samples) is None  # baseline
    meter.add(loud.tobytes())
    assert windows.read(("u", "out"), 1.0, meter.energy, meter.samples) == level_dbfs(
        meter.energy, meter.samples
    )
    meter.add(quiet)
    level = windows.read(("u", "out"), 2.0, meter.energy, meter.samples)
    assert level is not None and math.isclose(level, dbfs(quiet), abs_tol=0.05)  # about -29
    assert windows.read(("u", "out"), 2.5, meter.energy, meter.samples) == level  # too soon
    assert windows.read(("u", "out"), 3.5, meter.energy, meter.samples) is None  # no audio
    meter.add(np.zeros(160, dtype=np.int16))
    assert windows.read(("u", "out"), 4.5, meter.energy, meter.samples) == FLOOR_DBFS
    windows.forget_others(set())
    assert windows.read(("u", "out"), 5.5, meter.energy, meter.samples) is None

"""A level meter cheap enough for the per-frame path, read over windows chosen by its viewers.

The audio path only adds to two running sums (energy and sample count); each viewer keeps its
own baseline and turns the difference into dBFS. So the path never knows who watches or how
often, two dashboards never cut each other's windows short, and nothing is reset per frame.
"""

from __future__ import annotations

import math

import numpy as np

from lkbridge.audio.pcm import Int16Array, to_int16

FULL_SCALE_ENERGY = 32768.0**2
FLOOR_DBFS = -96.0  # below one LSB of int16: digital silence reads as this, not -inf


class LevelMeter:
    __slots__ = ("energy", "samples")

    def __init__(self) -> None:
        self.energy = 0  # sum of squared samples, exact (a Python int never overflows)
        self.samples = 0

    def add(self, pcm: bytes | Int16Array) -> None:
        samples = to_int16(pcm) if isinstance(pcm, bytes) else pcm
        if len(samples):
            wide = samples.astype(np.int64)
            self.energy += int(np.dot(wide, wide))
            self.samples += len(samples)


def level_dbfs(energy: int, samples: int) -> float | None:
    """RMS level of `samples` samples holding `energy`, in dBFS; None when there were none."""
    if samples <= 0:
        return None
    mean = energy / samples
    if mean <= 0:
        return FLOOR_DBFS
    return max(10 * math.log10(mean / FULL_SCALE_ENERGY), FLOOR_DBFS)


class LevelWindows:
    """One viewer's levels per (user, direction), over windows of at least `window_s`.

    A reading sooner than that returns the last level instead of one over a sliver of time; a
    meter that went backwards (its owner was replaced) starts a new window.
    """

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._base: dict[tuple[str, str], tuple[float, int, int]] = {}
        self._levels: dict[tuple[str, str], float | None] = {}

    def read(self, key: tuple[str, str], now: float, energy: int, samples: int) -> float | None:
        base = self._base.get(key)
        if base is None or samples < base[2]:
            self._base[key] = (now, energy, samples)
            return None
        if now - base[0] < self.window_s:
            return self._levels.get(key)
        level = level_dbfs(energy - base[1], samples - base[2])
        self._base[key] = (now, energy, samples)
        self._levels[key] = level
        return level

    def forget_others(self, live: set[str]) -> None:
        for key in [k for k in self._base if k[0] not in live]:
            self._base.pop(key, None)
            self._levels.pop(key, None)

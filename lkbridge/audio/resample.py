"""Streaming resampling to the room's 16 kHz mono with soxr.

A stream keeps soxr's filter state between chunks, so chunk boundaries add no clicks; a stream is
rebuilt only when the input format changes (a client switching rate mid-stream). soxr is imported
when a stream first needs it: most clients send 16 kHz, which needs none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lkbridge.audio import ROOM_RATE
from lkbridge.audio.pcm import Int16Array, downmix

if TYPE_CHECKING:
    import soxr


class MonoResampler:
    """Turns interleaved PCM16 at any rate/channel count into mono PCM16 at `out_rate`."""

    def __init__(self, out_rate: int = ROOM_RATE, quality: str = "HQ") -> None:
        self._out_rate = out_rate
        self._quality = quality
        self._in_rate = 0
        self._stream: soxr.ResampleStream | None = None

    @property
    def out_rate(self) -> int:
        return self._out_rate

    def process(self, samples: Int16Array, in_rate: int, channels: int) -> Int16Array:
        """Resample one chunk. Raises ValueError on a rate or channel count that makes no sense."""
        if in_rate <= 0 or in_rate > 384000:
            raise ValueError(f"unsupported sample rate {in_rate}")
        if channels <= 0 or channels > 8:
            raise ValueError(f"unsupported channel count {channels}")
        mono = downmix(samples, channels)
        if in_rate == self._out_rate:
            self._stream = None
            self._in_rate = in_rate
            return mono
        if self._stream is None or in_rate != self._in_rate:
            import soxr

            self._stream = soxr.ResampleStream(
                in_rate, self._out_rate, 1, dtype="int16", quality=self._quality
            )
            self._in_rate = in_rate
        out = self._stream.resample_chunk(mono, last=False)
        return np.asarray(out, dtype=np.int16)

    def flush(self) -> Int16Array:
        """Return what soxr still holds (its filter delay) and forget the stream."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        out = np.asarray(
            self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True), dtype=np.int16
        )
        self._stream = None
        return out


def resample_once(samples: Int16Array, in_rate: int, out_rate: int) -> Int16Array:
    """Resample a whole mono buffer in one go (tests, fixtures, decoded files)."""
    if in_rate == out_rate:
        return samples
    import soxr

    return np.asarray(soxr.resample(samples, in_rate, out_rate, quality="HQ"), dtype=np.int16)

"""Test signals and the measurements that check audio by content: frequency, level, delay."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lkbridge.audio import ROOM_RATE
from lkbridge.audio.pcm import Int16Array, float_to_int16


def tone(
    freq_hz: float,
    duration_s: float,
    sample_rate: int = ROOM_RATE,
    amplitude: float = 0.5,
    channels: int = 1,
    phase_samples: int = 0,
) -> Int16Array:
    """A sine tone as interleaved PCM16; `phase_samples` continues a tone across chunks."""
    n = round(duration_s * sample_rate)
    t = (np.arange(n) + phase_samples) / sample_rate
    mono = float_to_int16(amplitude * np.sin(2 * np.pi * freq_hz * t))
    if channels == 1:
        return mono
    return np.repeat(mono, channels)


def dominant_frequency(
    samples: npt.NDArray[np.integer] | npt.NDArray[np.floating], rate: int
) -> float:
    """The strongest frequency in Hz (FFT peak, refined by parabolic interpolation).

    Returns 0.0 for silence or a buffer too short to say anything.
    """
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < 32 or not np.any(x):
        return 0.0
    x = (x - x.mean()) * np.hanning(len(x))
    spectrum = np.abs(np.fft.rfft(x))
    spectrum[0] = 0.0
    k = int(np.argmax(spectrum))
    if 0 < k < len(spectrum) - 1:
        a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
        denom = a - 2 * b + c
        offset = 0.5 * (a - c) / denom if denom != 0 else 0.0
    else:
        offset = 0.0
    return float((k + offset) * rate / len(x))


def rms(samples: npt.NDArray[np.integer] | npt.NDArray[np.floating]) -> float:
    """Root mean square, in the units of the input (int16 full scale is 32768)."""
    x = np.asarray(samples, dtype=np.float64)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def dbfs(samples: Int16Array) -> float:
    """Level relative to int16 full scale; -inf for silence."""
    level = rms(samples)
    return float(20 * np.log10(level / 32768.0)) if level > 0 else float("-inf")


def delay_samples(reference: Int16Array, received: Int16Array) -> int:
    """Lag of `reference` inside `received` by FFT cross-correlation (positive: received later)."""
    a = np.asarray(received, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if not len(a) or not len(b):
        raise ValueError("empty signal")
    n = len(a) + len(b) - 1
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    lags = np.concatenate([corr[: len(a)], corr[size - len(b) + 1 :]])
    index = int(np.argmax(lags))
    return index if index < len(a) else index - (len(a) + len(b) - 1)


def loud_spans(
    samples: Int16Array, rate: int, frame_ms: int = 10, threshold: float = 1000.0
) -> list[tuple[int, int]]:
    """(start_ms, end_ms) of runs of frames louder than `threshold`: how long a tone was heard."""
    size = rate * frame_ms // 1000
    frames = len(samples) // size
    if frames == 0:
        return []
    levels = np.sqrt(
        np.mean(samples[: frames * size].reshape(frames, size).astype(np.float64) ** 2, axis=1)
    )
    spans: list[tuple[int, int]] = []
    start = -1
    for i, loud in enumerate(levels > threshold):
        if loud and start < 0:
            start = i
        elif not loud and start >= 0:
            spans.append((start * frame_ms, i * frame_ms))
            start = -1
    if start >= 0:
        spans.append((start * frame_ms, frames * frame_ms))
    return spans


def loud_part(
    samples: Int16Array, rate: int, frame_ms: int = 10, threshold: float = 1000.0
) -> Int16Array:
    """The stretch from the first loud frame to the last one: where a tone is, without silence."""
    spans = loud_spans(samples, rate, frame_ms, threshold)
    if not spans:
        return samples[:0]
    start, end = spans[0][0] * rate // 1000, spans[-1][1] * rate // 1000
    return samples[start:end]

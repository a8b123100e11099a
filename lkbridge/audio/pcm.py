"""PCM16 little-endian framing: the only sample format that crosses the wire."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float32]

BYTES_PER_SAMPLE = 2


def even_length(data: bytes) -> bytes:
    """Drop a trailing odd byte: half a sample cannot be played and would shift every later one."""
    return data[: len(data) - (len(data) % BYTES_PER_SAMPLE)]


def strip_device_header(packet: bytes) -> bytes:
    """Turn a device data packet into whole PCM16 samples.

    The glasses prepend a 1-byte sequence number, which makes the packet length odd. An odd packet
    loses its first byte (the header), then any odd last byte.
    """
    if len(packet) % BYTES_PER_SAMPLE:
        packet = packet[1:]
    return even_length(packet)


def to_int16(data: bytes) -> Int16Array:
    """View PCM16 LE bytes as samples (copy-free; trailing odd byte ignored)."""
    return np.frombuffer(data, dtype="<i2", count=len(data) // BYTES_PER_SAMPLE).astype(
        np.int16, copy=False
    )


def to_bytes(samples: Int16Array) -> bytes:
    return samples.astype("<i2", copy=False).tobytes()


def int16_to_float(samples: Int16Array) -> FloatArray:
    return samples.astype(np.float32) / 32768.0


def float_to_int16(samples: npt.NDArray[np.floating]) -> Int16Array:
    """Scale [-1, 1] floats to int16, clipping rather than wrapping on overflow."""
    scaled = np.clip(np.asarray(samples, dtype=np.float32) * 32768.0, -32768.0, 32767.0)
    return np.asarray(scaled, dtype=np.int16)


def downmix(samples: Int16Array, channels: int) -> Int16Array:
    """Average interleaved channels into mono. A partial last frame is dropped."""
    if channels <= 1:
        return samples
    frames = len(samples) // channels
    shaped = samples[: frames * channels].reshape(frames, channels).astype(np.int32)
    return np.asarray(shaped.sum(axis=1) // channels, dtype=np.int16)


def apply_gain(samples: Int16Array, gain: float) -> Int16Array:
    """Scale by `gain` with clipping; gain 1.0 returns the input unchanged."""
    if gain == 1.0:
        return samples
    scaled = np.clip(samples.astype(np.float32) * gain, -32768.0, 32767.0)
    return np.asarray(scaled, dtype=np.int16)


def samples_per_ms(sample_rate: int, ms: int) -> int:
    return sample_rate * ms // 1000


def chunks(samples: Int16Array, size: int) -> Iterator[Int16Array]:
    """Split into slices of `size` samples; the last one may be shorter."""
    if size <= 0:
        raise ValueError("chunk size must be positive")
    for start in range(0, len(samples), size):
        yield samples[start : start + size]


def duration_ms(num_samples: int, sample_rate: int) -> int:
    return num_samples * 1000 // sample_rate if sample_rate > 0 else 0

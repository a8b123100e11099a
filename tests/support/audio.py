"""Audio a test sends the way the cloud does: at real-time pace."""

from __future__ import annotations

import time

from lkbridge.audio.pcm import Int16Array, to_bytes
from lkbridge.audio.signal import tone
from lkbridge.client import AudioStreamCall
from tests.helpers import pace


async def stream_samples(
    stream: AudioStreamCall,
    samples: Int16Array,
    *,
    rate: int = 16000,
    channels: int = 1,
    track_id: int = 0,
    chunk_ms: int = 100,
) -> None:
    """Send `samples` (interleaved) in `chunk_ms` chunks at real-time pace, as the cloud does."""
    step = rate * channels * chunk_ms // 1000
    start = time.monotonic()
    for i in range(0, len(samples), step):
        await stream.send(
            to_bytes(samples[i : i + step]), sample_rate=rate, channels=channels, track_id=track_id
        )
        await pace(start, (i // step + 1) * chunk_ms / 1000)


async def stream_tone(
    stream: AudioStreamCall,
    freq: float,
    seconds: float,
    *,
    rate: int = 16000,
    channels: int = 1,
    track_id: int = 0,
    chunk_ms: int = 100,
) -> None:
    """Send a tone at real-time pace, as the cloud does."""
    signal = tone(freq, seconds, rate, channels=channels)
    await stream_samples(
        stream, signal, rate=rate, channels=channels, track_id=track_id, chunk_ms=chunk_ms
    )

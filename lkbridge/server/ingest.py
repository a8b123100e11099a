"""Client -> room: turn incoming AudioChunks into 16 kHz mono samples for a named track.

Pure logic over one StreamAudio call: validation, odd-byte trimming, downmix and streaming soxr
resampling with per-track state (so chunk edges stay click-free). No I/O here.
"""

from __future__ import annotations

from lkbridge.audio.pcm import BYTES_PER_SAMPLE, Int16Array, to_int16
from lkbridge.audio.resample import ROOM_RATE, MonoResampler
from lkbridge.errors import InvalidArgument
from lkbridge.server.tracks import validate_track_id

MAX_RATE = 192000
MAX_CHANNELS = 8


class ChunkIngest:
    """State of one inbound stream: a resampler per track id."""

    def __init__(self, max_track_id: int) -> None:
        self._max_track_id = max_track_id
        self._resamplers: dict[int, MonoResampler] = {}

    def convert(
        self, pcm: bytes, sample_rate: int, channels: int, track_id: int
    ) -> tuple[int, Int16Array] | None:
        """(track_id, 16 kHz mono samples), or None for a keepalive. Raises InvalidArgument."""
        validate_track_id(track_id, self._max_track_id)
        rate = sample_rate or ROOM_RATE  # proto3 default: the Go bridge assumed 16 kHz
        chans = channels or 1
        if not 1000 <= rate <= MAX_RATE:
            raise InvalidArgument(f"sample_rate {sample_rate} out of range 1000..{MAX_RATE}")
        if not 1 <= chans <= MAX_CHANNELS:
            raise InvalidArgument(f"channels {channels} out of range 1..{MAX_CHANNELS}")
        if not pcm:
            return None  # a keepalive
        odd = len(pcm) % (BYTES_PER_SAMPLE * chans)  # a partial last frame is dropped
        samples = to_int16(pcm[: len(pcm) - odd] if odd else pcm)
        resampler = self._resamplers.get(track_id)
        if resampler is None:
            resampler = self._resamplers[track_id] = MonoResampler(ROOM_RATE)
        return track_id, resampler.process(samples, rate, chans)

    def flush(self) -> list[tuple[int, Int16Array]]:
        """What the resamplers still hold at the end of the stream."""
        out = [(tid, r.flush()) for tid, r in self._resamplers.items()]
        return [(tid, s) for tid, s in out if len(s)]

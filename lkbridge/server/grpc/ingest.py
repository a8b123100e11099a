"""Client -> room: turn incoming AudioChunks into 16 kHz mono samples for a named track.

Pure logic over one StreamAudio call: validation, odd-byte trimming, downmix and streaming soxr
resampling with per-track state (so chunk edges stay click-free). No I/O here.

A chunk's work is bounded whatever it declares: its size after resampling is capped (a 9 MB
chunk declared at 1 kHz would become 144 MB at 16 kHz), and what passes is resampled one
slice at a time, each slice written out before the next is made, so a large chunk never
exists whole at 16 kHz.
"""

from __future__ import annotations

from collections.abc import Iterator

from lkbridge.audio import ROOM_RATE
from lkbridge.audio.pcm import BYTES_PER_SAMPLE, Int16Array, to_int16
from lkbridge.audio.resample import MonoResampler
from lkbridge.errors import InvalidArgument
from lkbridge.server.grpc.validate import validate_track_id
from lkbridge.wire import MAX_MESSAGE_BYTES

MAX_RATE = 192000
MAX_CHANNELS = 8
SLICE_S = 1  # input seconds resampled per step
# A chunk may not grow past what one message can carry at the room's rate (327 s of audio).
DEFAULT_MAX_OUT_BYTES = MAX_MESSAGE_BYTES


class ChunkIngest:
    """State of one inbound stream: a resampler per track id."""

    def __init__(self, max_track_id: int, max_out_bytes: int = DEFAULT_MAX_OUT_BYTES) -> None:
        self._max_track_id = max_track_id
        self._max_out_bytes = max_out_bytes
        self._resamplers: dict[int, MonoResampler] = {}

    def convert(
        self, pcm: bytes, sample_rate: int, channels: int, track_id: int
    ) -> tuple[int, Iterator[Int16Array]] | None:
        """(track_id, 16 kHz mono slices), or None for a keepalive. Raises InvalidArgument.

        Everything is checked before the first slice is made, so a refused chunk plays nothing.
        """
        validate_track_id(track_id, self._max_track_id)
        rate = sample_rate or ROOM_RATE  # proto3 default: the Go bridge assumed 16 kHz
        chans = channels or 1
        if not 1000 <= rate <= MAX_RATE:
            raise InvalidArgument(f"sample_rate {sample_rate} out of range 1000..{MAX_RATE}")
        if not 1 <= chans <= MAX_CHANNELS:
            raise InvalidArgument(f"channels {channels} out of range 1..{MAX_CHANNELS}")
        if not pcm:
            return None  # a keepalive
        frames = len(pcm) // (BYTES_PER_SAMPLE * chans)  # a partial last frame is dropped
        out_bytes = -(-frames * ROOM_RATE // rate) * BYTES_PER_SAMPLE
        if out_bytes > self._max_out_bytes:
            raise InvalidArgument(
                f"chunk of {len(pcm)} bytes at {rate} Hz would be {out_bytes} bytes at "
                f"{ROOM_RATE} Hz, over the {self._max_out_bytes} byte limit: send smaller chunks"
            )
        samples = to_int16(pcm)[: frames * chans]  # a view: no copy of a large chunk
        resampler = self._resamplers.get(track_id)
        if resampler is None:
            resampler = self._resamplers[track_id] = MonoResampler(ROOM_RATE)
        return track_id, _slices(resampler, samples, rate, chans)

    def flush(self) -> list[tuple[int, Int16Array]]:
        """What the resamplers still hold at the end of the stream."""
        out = [(tid, r.flush()) for tid, r in self._resamplers.items()]
        return [(tid, s) for tid, s in out if len(s)]


def _slices(
    resampler: MonoResampler, samples: Int16Array, rate: int, channels: int
) -> Iterator[Int16Array]:
    step = rate * SLICE_S * channels
    for start in range(0, len(samples), step):
        out = resampler.process(samples[start : start + step], rate, channels)
        if len(out):
            yield out

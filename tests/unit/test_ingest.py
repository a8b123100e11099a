"""Client chunks to 16 kHz mono: validation, the cap on a chunk's resampled size, bounded slices."""

from __future__ import annotations

import numpy as np
import pytest

from lkbridge.audio.pcm import to_bytes
from lkbridge.audio.signal import dominant_frequency, tone
from lkbridge.errors import InvalidArgument
from lkbridge.server.grpc.ingest import ChunkIngest


def test_keepalive_and_odd_bytes() -> None:
    ingest = ChunkIngest(max_track_id=3)
    assert ingest.convert(b"", 16000, 1, 0) is None
    converted = ingest.convert(b"\1\0\2\0\3", 16000, 1, 2)
    assert converted is not None
    track_id, slices = converted
    assert track_id == 2 and [s.tolist() for s in slices] == [[1, 2]]


@pytest.mark.parametrize(
    "rate,channels,track_id,message",
    [
        (-1, 1, 0, "sample_rate -1 out of range"),
        (999, 1, 0, "sample_rate 999 out of range"),
        (16000, 9, 0, "channels 9 out of range"),
        (16000, 1, 4, "track_id 4 out of range 0..3"),
    ],
)
def test_nonsense_formats_are_refused(
    rate: int, channels: int, track_id: int, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        ChunkIngest(max_track_id=3).convert(b"\0\0", rate, channels, track_id)


def test_a_chunk_that_would_grow_past_the_cap_is_refused_before_any_work() -> None:
    ingest = ChunkIngest(max_track_id=0, max_out_bytes=1_000_000)
    pcm = b"\0" * 100_000  # 50 000 samples at 1 kHz: 800 000 at 16 kHz, 1.6 MB
    with pytest.raises(InvalidArgument) as err:
        ingest.convert(pcm, 1000, 1, 0)
    assert str(err.value) == (
        "chunk of 100000 bytes at 1000 Hz would be 1600000 bytes at 16000 Hz, "
        "over the 1000000 byte limit: send smaller chunks"
    )
    # the same bytes at 16 kHz pass (no growth), and so does a downsampled stereo chunk
    assert ingest.convert(pcm, 16000, 1, 0) is not None
    assert ingest.convert(pcm, 48000, 2, 0) is not None


def test_large_chunks_come_out_in_bounded_slices_with_no_seams() -> None:
    ingest = ChunkIngest(max_track_id=0)
    signal = tone(300, 10.0, 8000)  # 10 s at 8 kHz
    converted = ingest.convert(to_bytes(signal), 8000, 1, 0)
    assert converted is not None
    slices = list(converted[1])
    assert len(slices) >= 9
    assert max(len(s) for s in slices) <= 2 * 16000  # about a second each, never the whole
    flushed = ingest.flush()
    out = np.concatenate(slices + [s for _, s in flushed])
    assert len(out) == pytest.approx(160_000, abs=10)
    assert dominant_frequency(out, 16000) == pytest.approx(300, abs=1)
    # chunk edges are continuous: no sample-to-sample jump larger than the tone's own
    steps = np.abs(np.diff(out[2000:-2000].astype(np.int32)))
    own = np.abs(np.diff(tone(300, 1.0, 16000).astype(np.int32))).max()
    assert steps.max() <= own * 1.1


def test_multichannel_slices_keep_whole_frames() -> None:
    ingest = ChunkIngest(max_track_id=0)
    stereo = np.repeat(tone(440, 3.0, 48000), 2)  # interleaved, both channels the same
    converted = ingest.convert(to_bytes(stereo) + b"\1\2\3", 48000, 2, 0)  # + a partial frame
    assert converted is not None
    out = np.concatenate(list(converted[1]) + [s for _, s in ingest.flush()])
    assert len(out) == pytest.approx(48_000, abs=10)
    assert dominant_frequency(out, 16000) == pytest.approx(440, abs=1)

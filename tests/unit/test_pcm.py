from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lkbridge.audio import pcm
from lkbridge.audio.resample import MonoResampler, resample_once
from lkbridge.audio.signal import dominant_frequency, rms, tone


def test_strip_device_header_drops_first_byte_of_odd_packets() -> None:
    assert pcm.strip_device_header(b"\x07\x01\x02\x03\x04") == b"\x01\x02\x03\x04"
    assert pcm.strip_device_header(b"\x01\x02\x03\x04") == b"\x01\x02\x03\x04"
    assert pcm.strip_device_header(b"\x07") == b""
    assert pcm.strip_device_header(b"") == b""


@given(st.binary(max_size=64))
def test_even_length_and_roundtrip(data: bytes) -> None:
    even = pcm.even_length(data)
    assert len(even) % 2 == 0 and data.startswith(even) and len(data) - len(even) <= 1
    assert pcm.to_bytes(pcm.to_int16(even)) == even


def test_downmix_averages_channels() -> None:
    stereo = np.array([100, 300, -100, -300, 7], dtype=np.int16)
    assert pcm.downmix(stereo, 2).tolist() == [200, -200]
    assert pcm.downmix(stereo, 1) is stereo


def test_gain_clips_instead_of_wrapping() -> None:
    samples = np.array([20000, -20000, 100], dtype=np.int16)
    assert pcm.apply_gain(samples, 2.0).tolist() == [32767, -32768, 200]
    assert pcm.apply_gain(samples, 0.5).tolist() == [10000, -10000, 50]
    assert pcm.apply_gain(samples, 1.0) is samples


def test_float_conversion_clips() -> None:
    assert pcm.float_to_int16(np.array([2.0, -2.0, 0.5])).tolist() == [32767, -32768, 16384]
    assert pcm.int16_to_float(np.array([16384], dtype=np.int16)).tolist() == [0.5]


def test_chunks_and_durations() -> None:
    parts = list(pcm.chunks(np.arange(10, dtype=np.int16), 4))
    assert [len(p) for p in parts] == [4, 4, 2]
    with pytest.raises(ValueError):
        list(pcm.chunks(np.arange(3, dtype=np.int16), 0))
    assert pcm.samples_per_ms(16000, 20) == 320
    assert pcm.duration_ms(48000, 16000) == 3000
    assert pcm.duration_ms(5, 0) == 0


@pytest.mark.parametrize(
    "rate,channels", [(48000, 2), (44100, 1), (22050, 2), (8000, 1), (16000, 2)]
)
def test_streaming_resampler_keeps_the_tone(rate: int, channels: int) -> None:
    resampler = MonoResampler()
    source = tone(440, 1.0, rate, channels=channels)
    step = rate * channels // 50  # 20 ms chunks
    out = np.concatenate(
        [
            resampler.process(source[i : i + step], rate, channels)
            for i in range(0, len(source), step)
        ]
        + [resampler.flush()]
    )
    assert abs(len(out) - 16000) <= 16
    assert dominant_frequency(out, 16000) == pytest.approx(440, abs=1)
    assert rms(out[2000:-2000]) == pytest.approx(rms(tone(440, 1.0, 16000)), rel=0.05)


def test_resampler_rejects_nonsense_formats() -> None:
    resampler = MonoResampler()
    with pytest.raises(ValueError, match="sample rate"):
        resampler.process(np.zeros(10, dtype=np.int16), 0, 1)
    with pytest.raises(ValueError, match="channel"):
        resampler.process(np.zeros(10, dtype=np.int16), 16000, 0)


def test_resample_once() -> None:
    out = resample_once(tone(1000, 0.5, 48000), 48000, 16000)
    assert len(out) == 8000
    assert dominant_frequency(out, 16000) == pytest.approx(1000, abs=1)

from __future__ import annotations

import numpy as np
import pytest

from lkbridge.audio.signal import dbfs, delay_samples, dominant_frequency, loud_spans, rms, tone


@pytest.mark.parametrize("freq", [100.0, 440.0, 523.25, 1000.0, 3000.0])
@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_dominant_frequency_finds_the_tone(freq: float, rate: int) -> None:
    assert dominant_frequency(tone(freq, 0.5, rate), rate) == pytest.approx(freq, abs=1.0)


def test_dominant_frequency_of_silence_is_zero() -> None:
    assert dominant_frequency(np.zeros(1000, dtype=np.int16), 16000) == 0.0
    assert dominant_frequency(np.zeros(3, dtype=np.int16), 16000) == 0.0


def test_tone_level_and_channels() -> None:
    mono = tone(440, 1.0, 16000, amplitude=0.5)
    assert len(mono) == 16000
    assert rms(mono) == pytest.approx(0.5 * 32768 / np.sqrt(2), rel=0.01)
    assert dbfs(mono) == pytest.approx(-9.03, abs=0.1)
    stereo = tone(440, 1.0, 16000, channels=2)
    assert len(stereo) == 32000 and np.array_equal(stereo[0::2], stereo[1::2])


def test_tone_phase_continues_across_chunks() -> None:
    whole = tone(440, 0.2, 16000)
    parts = np.concatenate([tone(440, 0.1, 16000), tone(440, 0.1, 16000, phase_samples=1600)])
    assert np.abs(whole.astype(int) - parts.astype(int)).max() <= 1


def test_delay_samples_finds_the_lag() -> None:
    ref = tone(300, 0.05, 16000) + tone(1234, 0.05, 16000)
    received = np.concatenate([np.zeros(777, dtype=np.int16), ref, np.zeros(100, dtype=np.int16)])
    assert delay_samples(ref, received) == 777
    with pytest.raises(ValueError):
        delay_samples(np.zeros(0, dtype=np.int16), received)


def test_loud_spans_measure_duration() -> None:
    silence = np.zeros(1600, dtype=np.int16)
    signal = np.concatenate([silence, tone(440, 0.5, 16000), silence])
    assert loud_spans(signal, 16000) == [(100, 600)]
    assert loud_spans(silence, 16000) == []


def test_loud_part_trims_silence() -> None:
    from lkbridge.audio.signal import loud_part

    silence = np.zeros(1600, dtype=np.int16)
    signal = np.concatenate([silence, tone(440, 0.5, 16000), silence])
    assert len(loud_part(signal, 16000)) == 8000
    assert len(loud_part(silence, 16000)) == 0

"""The device's streaming WAV writer: a file readable at every flush, memory flat, errors kept."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from lkbridge.audio.signal import dominant_frequency, tone
from lkbridge.devstack.wav_sink import TrackFiles, WavSink

RATE = 16000


def frames(samples: np.ndarray, size: int = 160) -> list[np.ndarray]:
    """10 ms frames, as the device's track reader gets them."""
    return [samples[i : i + size] for i in range(0, len(samples), size)]


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def test_a_file_left_unclosed_plays_up_to_its_last_flush(tmp_path: Path) -> None:
    signal = tone(523, 2.5, RATE)
    sink = WavSink(tmp_path / "a.wav", RATE, flush_s=1.0)
    for frame in frames(signal):
        sink.write(frame)
    # as a killed process leaves it: the header covers the two flushed seconds, nothing more
    on_disk = read_wav(tmp_path / "a.wav")
    assert np.array_equal(on_disk, signal[: 2 * RATE])
    assert sink.seconds == pytest.approx(2.5)
    sink.close()
    assert np.array_equal(read_wav(tmp_path / "a.wav"), signal)
    assert dominant_frequency(read_wav(tmp_path / "a.wav"), RATE) == pytest.approx(523, abs=2)
    assert sink.dbfs == pytest.approx(-9.03, abs=0.05)  # a sine at half of full scale


def test_memory_does_not_grow_with_the_length_of_the_recording(tmp_path: Path) -> None:
    peaks = []
    for seconds in (2.0, 20.0):
        sink = WavSink(tmp_path / f"{seconds}.wav", RATE, flush_s=1.0)
        for frame in frames(tone(440, seconds, RATE)):
            sink.write(frame)
        sink.close()
        peaks.append(sink.peak_pending_bytes)
        assert len(read_wav(sink.path)) == seconds * RATE
    assert peaks[1] / peaks[0] <= 1.1  # ten times the audio, the same memory
    assert peaks[1] <= 2 * RATE * 2  # at most about one flush interval


async def test_a_full_disk_is_kept_as_one_error_and_sets_broken() -> None:
    broken = asyncio.Event()
    sink = WavSink(Path("/dev/full"), RATE, flush_s=0.1, broken=broken)
    for frame in frames(tone(440, 0.5, RATE)):
        sink.write(frame)  # never raises: a track reader must not die of it
    sink.close()
    assert sink.error == "cannot write /dev/full: No space left on device"
    assert broken.is_set()


def test_a_file_that_cannot_be_opened(tmp_path: Path) -> None:
    sink = WavSink(tmp_path / "missing" / "a.wav", RATE)
    sink.write(tone(440, 0.1, RATE))
    sink.close()
    assert sink.error is not None
    assert sink.error.startswith(f"cannot write {tmp_path}/missing/a.wav: No such file")
    assert sink.seconds == 0 and sink.dbfs is None


async def test_a_track_heard_again_goes_on_in_its_file(tmp_path: Path) -> None:
    files = TrackFiles(lambda track: tmp_path / f"heard.{track}.wav", RATE)
    first = files.sink_for("tts", "bridge-a")
    first.write(tone(440, 0.5, RATE))
    again = files.sink_for("tts", "bridge-a")  # unsubscribed, then subscribed again
    again.write(tone(440, 0.5, RATE))
    other = files.sink_for("tts", "bridge-b")  # another publisher of the name: not interleaved
    other.write(tone(880, 0.25, RATE))
    files.sink_for("speaker", "bridge-b")
    files.close()
    assert again is first and other is not first
    assert files.publishers == {
        "tts": "bridge-a",
        "tts.bridge-b": "bridge-b",
        "speaker": "bridge-b",
    }
    assert len(read_wav(tmp_path / "heard.tts.wav")) == RATE
    assert len(read_wav(tmp_path / "heard.tts.bridge-b.wav")) == RATE // 4
    assert len(read_wav(tmp_path / "heard.speaker.wav")) == 0
    assert files.error is None and not files.broken.is_set()

"""The simulated device's test signal: espeak-ng speech when installed, else a tone."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

from lkbridge.audio import ROOM_RATE
from lkbridge.audio.pcm import Int16Array, downmix
from lkbridge.audio.resample import resample_once
from lkbridge.audio.signal import tone

DEFAULT_PHRASE = "Hello from the simulated glasses. This is the lkbridge development stack."


def read_wav(data: bytes) -> tuple[Int16Array, int]:
    """PCM16 WAV bytes -> (mono samples, rate)."""
    with wave.open(io.BytesIO(data)) as wav:
        if wav.getsampwidth() != 2:
            raise ValueError("only 16-bit WAV is read here")
        frames = wav.readframes(wav.getnframes())
        samples = np.frombuffer(frames, dtype="<i2").astype(np.int16)
        return downmix(samples, wav.getnchannels()), wav.getframerate()


def speech(phrase: str = DEFAULT_PHRASE, rate: int = ROOM_RATE) -> Int16Array | None:
    """The phrase spoken by espeak-ng at `rate`, or None when espeak-ng is not installed."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        return None
    result = subprocess.run([binary, "--stdout", phrase], capture_output=True, timeout=30)
    if result.returncode != 0 or not result.stdout:
        return None
    samples, source_rate = read_wav(result.stdout)
    return resample_once(samples, source_rate, rate)


def test_signal(kind: str = "speech", rate: int = ROOM_RATE) -> tuple[Int16Array, str]:
    """(samples, description): speech with a pause after it, or a 440 Hz beep pattern."""
    if kind == "speech":
        spoken = speech(rate=rate)
        if spoken is not None:
            pause = np.zeros(rate, dtype=np.int16)
            return np.concatenate([spoken, pause]), "espeak-ng speech"
    beep = tone(440, 0.5, rate, amplitude=0.3)
    return np.concatenate([beep, np.zeros(rate // 2, dtype=np.int16)]), "440 Hz beeps"

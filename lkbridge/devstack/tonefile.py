"""Audio files of a known tone, made by Debian's ffmpeg: fixtures for playback tests, the
benchmarks and the load tests (the format follows the file's suffix)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_tone_file(
    path: Path,
    freq: float,
    seconds: float,
    rate: int = 44100,
    channels: int = 1,
    codec: str | None = None,
    bitrate: str | None = None,
) -> Path:
    """Write a sine tone (ffmpeg's lavfi sine: amplitude 1/8) to `path` and return it."""
    args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
            "-i", f"sine=frequency={freq}:sample_rate={rate}:duration={seconds}",
            "-ac", str(channels), "-ar", str(rate)]  # fmt: skip
    if codec:
        args += ["-c:a", codec]
    if bitrate:
        args += ["-b:a", bitrate]
    subprocess.run([*args, str(path)], check=True, capture_output=True, timeout=120)
    return path

"""A local audio file checked before any call: `play FILE` and `stream --file` say the same.

A file that is not audio is the user's input, so both commands refuse it with exit 2 and one
wording, before the bridge is asked (`play` used to let the bridge fetch it and fail: exit 3).
"""

from __future__ import annotations

from pathlib import Path

from lkbridge.cli.calls import EXIT_USAGE, fail

NOT_AUDIO = "not an audio file FFmpeg can read"


def check_file(file: Path) -> None:
    """Exists, is a file, is not empty: else one line and exit 2."""
    if not file.exists():
        raise fail(f"no such file: {file}", EXIT_USAGE)
    if not file.is_file():
        raise fail(f"not a file: {file}", EXIT_USAGE)
    if file.stat().st_size == 0:
        raise fail(f"{file}: the file is empty", EXIT_USAGE)


def check_audio(file: Path) -> None:
    """The file opens as audio and its first frame decodes; reads only its start, so an hour
    of audio is checked as fast as a second of it."""
    import av

    check_file(file)
    try:
        with av.open(str(file), mode="r") as container:
            if not container.streams.audio:
                raise fail(f"{file}: {NOT_AUDIO} (no audio stream)", EXIT_USAGE)
            for _ in container.decode(container.streams.audio[0]):
                return
    except (av.FFmpegError, OSError, ValueError):
        raise fail(f"{file}: {NOT_AUDIO}", EXIT_USAGE) from None
    raise fail(f"{file}: holds no audio", EXIT_USAGE)

"""`lkbridge stream --record` and `device --record` in pure logic: the recorder's fresh-audio
rule and the per-track file names.
"""

from __future__ import annotations

import time
from pathlib import Path

from lkbridge.cli.device import recording_path
from lkbridge.cli.streaming import Recorder


def test_recorder_keeps_fresh_audio_up_to_its_limit(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "o.wav", limit=4000)
    recorder.open()
    recorder.start()
    now = time.time_ns() // 1_000_000
    chunk = b"\x01\x00" * 1600
    recorder.write(chunk, now - 5000)  # queued before the stream opened
    recorder.write(chunk, 0)  # no timestamp: kept
    recorder.write(chunk, now + 10)
    recorder.write(chunk, now + 110)  # only 800 of it fit
    assert recorder.full
    recorder.close()
    assert (recorder.written, recorder.skipped) == (4000, 1600)


def test_recording_paths() -> None:
    assert recording_path(Path("d/heard.wav"), "tts") == Path("d/heard.tts.wav")
    assert recording_path(Path("heard"), "track 3/x") == Path("heard.track_3_x.wav")

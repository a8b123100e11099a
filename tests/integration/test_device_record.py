"""`lkbridge device --record` through the real SFU: the WAV is written as the audio arrives.

A real phone peer publishes a tone; the recording device (in this process, or the CLI as its own
process) writes what it hears. Judged by content (frequency, loud seconds), by the bytes the
writer held in memory at two lengths of recording, and by a file whose writer was SIGKILLed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lkbridge.audio.signal import dominant_frequency, loud_part, loud_spans, tone
from lkbridge.devstack.device import DEVICE_RATE, DevicePeer
from lkbridge.devstack.wav_sink import TrackFiles
from tests.conftest import DeviceFactory, LiveKitEnv

RATE = DEVICE_RATE


async def until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def wav_samples(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def wav_seconds(path: Path) -> float:
    """What the header says now (0 while the file is missing or has no header yet)."""
    try:
        with wave.open(str(path)) as wav:
            return wav.getnframes() / wav.getframerate()
    except (OSError, EOFError, wave.Error):
        return 0.0


def loud_seconds(samples: np.ndarray) -> float:
    return sum(end - start for start, end in loud_spans(samples, RATE)) / 1000


async def test_a_recording_streams_to_its_file_and_memory_stays_flat(
    livekit_server: LiveKitEnv, device_factory: DeviceFactory, room_name: str, tmp_path: Path
) -> None:
    files = TrackFiles(lambda track: tmp_path / f"heard.{track}.wav", RATE)
    recorder = DevicePeer(
        livekit_server.url, livekit_server.token(room_name, "recorder"),
        keep_audio=False, record_to=files.sink_for,
    )  # fmt: skip
    await recorder.connect()
    try:
        phone = await device_factory(room_name, "phone")
        playing = asyncio.create_task(phone.publish_audio("speaker", tone(523, 6.0, RATE)))
        await until(lambda: "speaker" in files.sinks, "the recorder to hear the track")
        sink = files.sinks["speaker"]
        await until(lambda: sink.seconds >= 2.0, "2 s recorded")
        early = (sink.seconds, sink.peak_pending_bytes)
        await playing
        await until(lambda: sink.seconds >= 6.0, "6 s recorded")
        late = (sink.seconds, sink.peak_pending_bytes)
    finally:
        await recorder.aclose()
        files.close()
    assert recorder.recordings == {}  # nothing kept in memory beside the file
    assert late[0] / early[0] >= 2.5
    assert late[1] / early[1] <= 1.5, f"held {early[1]} B at {early[0]} s, {late[1]} at {late[0]}"
    samples = wav_samples(sink.path)
    assert len(samples) / RATE == pytest.approx(sink.seconds, abs=0.01)
    assert loud_seconds(samples) == pytest.approx(6.0, abs=0.5)
    assert dominant_frequency(loud_part(samples, RATE), RATE) == pytest.approx(523, abs=3)


def start_device_cli(livekit: LiveKitEnv, room: str, *args: str) -> subprocess.Popen[str]:
    cfg = livekit.server.config
    env = dict(
        os.environ,
        LIVEKIT_URL=cfg.url,
        LIVEKIT_API_KEY=cfg.api_key,
        LIVEKIT_API_SECRET=cfg.api_secret,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "lkbridge", "device", "--room", room, "--identity", "rec",
         "--signal", "none", "--json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


async def joined(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    assert json.loads(line)["event"] == "joined", line


async def test_device_record_cli_writes_each_track_and_reports_it(
    livekit_server: LiveKitEnv, device_factory: DeviceFactory, room_name: str, tmp_path: Path
) -> None:
    proc = start_device_cli(livekit_server, room_name, "--record", str(tmp_path / "heard.wav"),
                            "--duration", "7")  # fmt: skip
    try:
        await joined(proc)
        phone = await device_factory(room_name, "phone")
        await phone.publish_audio("tts", tone(523, 3.0, RATE))
        out, err = await asyncio.to_thread(proc.communicate, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    [recorded] = [json.loads(line) for line in out.splitlines()]
    path = tmp_path / "heard.tts.wav"
    assert (recorded["event"], recorded["track"], recorded["publisher"], recorded["file"]) == (
        "recorded", "tts", "phone", str(path),
    )  # fmt: skip
    samples = wav_samples(path)
    assert recorded["seconds"] == pytest.approx(len(samples) / RATE, abs=0.01)
    assert loud_seconds(samples) == pytest.approx(3.0, abs=0.4)
    assert dominant_frequency(loud_part(samples, RATE), RATE) == pytest.approx(523, abs=3)
    assert -25 < recorded["dbfs"] < -8.5  # the tone at half scale (-9), and the silence after it


async def test_a_killed_device_leaves_a_wav_that_plays_up_to_its_last_flush(
    livekit_server: LiveKitEnv, device_factory: DeviceFactory, room_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "heard.speaker.wav"
    proc = start_device_cli(livekit_server, room_name, "--record", str(tmp_path / "heard.wav"))
    try:
        await joined(proc)
        phone = await device_factory(room_name, "phone")
        playing = asyncio.create_task(phone.publish_audio("speaker", tone(523, 5.0, RATE)))
        await until(lambda: wav_seconds(path) >= 2.0, "two flushes of the WAV")
        proc.send_signal(signal.SIGKILL)  # no chance to close the file
        await asyncio.to_thread(proc.wait)
        await playing
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    samples = wav_samples(path)
    assert len(samples) >= 2 * RATE
    assert loud_seconds(samples) >= 1.5
    assert dominant_frequency(loud_part(samples, RATE), RATE) == pytest.approx(523, abs=3)


async def test_a_recording_that_cannot_be_written_stops_the_device_with_one_line(
    livekit_server: LiveKitEnv, device_factory: DeviceFactory, room_name: str, tmp_path: Path
) -> None:
    (tmp_path / "heard.tts.wav").mkdir()  # the track's file cannot be created
    proc = start_device_cli(livekit_server, room_name, "--record", str(tmp_path / "heard.wav"))
    try:
        await joined(proc)
        phone = await device_factory(room_name, "phone")
        playing = asyncio.create_task(phone.publish_audio("tts", tone(523, 2.0, RATE)))
        out, err = await asyncio.to_thread(proc.communicate, timeout=30)  # no --duration
        await playing
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, err
    assert [json.loads(line) for line in err.splitlines()] == [  # a --json run: its error too
        {"error": f"cannot write {tmp_path}/heard.tts.wav: Is a directory", "exit_code": 2}
    ]
    assert out == ""

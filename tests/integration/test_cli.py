"""The CLI against real processes: `lkbridge dev` end to end, health/status exit codes and JSON."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from lkbridge.audio.signal import dominant_frequency, loud_part, tone
from lkbridge.cli.main import app
from tests.audio_server import make_fixture
from tests.conftest import BridgeEnv, DeviceFactory, LiveKitEnv
from tests.helpers import wait_until
from tests.support.cli import invoke, lk_env, runner


async def test_health_and_status_commands(bridge: BridgeEnv, room_name: str) -> None:
    await bridge.join("cli-user", room_name)

    result = await asyncio.to_thread(invoke, "health", "--bridge", bridge.target, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "SERVING" and data["active_sessions"] == 1
    result = await asyncio.to_thread(
        invoke, "status", "cli-user", "--bridge", bridge.target, "--json"
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["connected"] is True
    table = await asyncio.to_thread(invoke, "health", "--bridge", bridge.target)
    assert "SERVING" in table.stdout and "active sessions" in table.stdout
    assert "1 of 20" in table.stdout  # against the bridge's --max-sessions
    assert data["metadata"]["max_sessions"] == "20"


def test_health_exit_code_when_unreachable() -> None:
    result = runner.invoke(app, ["health", "--bridge", "127.0.0.1:1", "--timeout", "0.5"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot reach the bridge at 127.0.0.1:1")
    assert "Traceback" not in result.output


def test_token_command(livekit_server: LiveKitEnv) -> None:
    from livekit import api

    env = lk_env(livekit_server)
    result = invoke("token", "--room", "r1", "--identity", "alice", "--ttl", "30m", env=env)
    assert result.exit_code == 0, result.output
    jwt = result.stdout.strip()
    claims = api.TokenVerifier(env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"]).verify(jwt)
    assert claims.identity == "alice" and claims.video.room == "r1"
    as_json = invoke("token", "--room", "r1", "--identity", "bob", "--json", env=env)
    assert json.loads(as_json.stdout)["identity"] == "bob"
    missing = invoke("token", "--room", "r1", "--identity", "x", env={"LIVEKIT_API_KEY": ""})
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: set LIVEKIT_API_KEY, LIVEKIT_API_SECRET")
    bad = invoke("token", "--room", "r", "--identity", "x", "--ttl", "soon", env=env)
    assert bad.exit_code == 2 and "use e.g. 90s" in bad.stderr


async def test_join_play_stop_leave_commands(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str, tmp_path: Path
) -> None:
    env = lk_env(bridge.livekit)
    device = await device_factory(room_name, "device")
    joined = await asyncio.to_thread(
        invoke, "join", "cli2", "--room", room_name, "--target", "device",
        "--bridge", bridge.target, "--json", env=env,
    )  # fmt: skip
    assert joined.exit_code == 0, joined.output
    assert json.loads(joined.stdout)["success"] is True

    clip = make_fixture(tmp_path / "clip.wav", 640, 1.5, 22050, 1)
    played = await asyncio.to_thread(
        invoke, "play", "cli2", str(clip), "--track", "2", "--bridge", bridge.target, "--json"
    )
    assert played.exit_code == 0, played.output
    kinds = [json.loads(line)["type"] for line in played.stdout.splitlines()]
    assert kinds[0] == "STARTED" and kinds[-1] == "COMPLETED"
    heard = loud_part((await device.wait_for_track("tts")).samples(), 16000)
    assert dominant_frequency(heard, 16000) == pytest.approx(640, abs=3)

    missing = await asyncio.to_thread(invoke, "play", "cli2", "nope.mp3", "--bridge", bridge.target)
    assert missing.exit_code == 2 and missing.stderr == "error: no such file: nope.mp3\n"
    bad_url = await asyncio.to_thread(
        invoke, "play", "cli2", "ftp://x/a.mp3", "--bridge", bridge.target
    )
    assert bad_url.exit_code == 2 and "only http and https" in bad_url.stderr
    failed = await asyncio.to_thread(
        invoke, "play", "cli2", "http://127.0.0.1:1/a.mp3", "--bridge", bridge.target
    )
    assert failed.exit_code == 3 and failed.stderr.splitlines()[-1].startswith(
        "error: playback failed: cannot fetch"
    )

    stopped = await asyncio.to_thread(invoke, "stop", "cli2", "--bridge", bridge.target)
    assert stopped.exit_code == 0 and "nothing was playing" in stopped.stdout
    left = await asyncio.to_thread(invoke, "leave", "cli2", "--bridge", bridge.target)
    assert (left.exit_code, left.stdout) == (0, "left: cli2\n")
    again = await asyncio.to_thread(invoke, "leave", "cli2", "--bridge", bridge.target)
    assert again.exit_code == 3 and again.stderr == "error: session not found: cli2\n"


async def test_stream_file_and_record(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str, tmp_path: Path
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("cli3", room_name)
    clip = make_fixture(tmp_path / "speech.mp3", 560, 2.0, 44100, 2)
    out = tmp_path / "room.wav"
    sender = asyncio.create_task(device.send_packets(tone(330, 2.0), chunk_ms=100))
    result = await asyncio.to_thread(
        invoke, "stream", "cli3", "--file", str(clip), "--record", str(out),
        "--bridge", bridge.target, "--json",
    )  # fmt: skip
    await sender
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["chunks_sent"] >= 19 and summary["bytes_received"] > 0
    heard = loud_part((await device.wait_for_track("speaker")).samples(), 16000)
    assert dominant_frequency(heard, 16000) == pytest.approx(560, abs=3)
    with wave.open(str(out)) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (16000, 1)
        recorded = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    assert len(recorded) > 16000
    assert dominant_frequency(recorded, 16000) == pytest.approx(330, abs=2)
    # audio from before the stream opened is received but not recorded
    skipped = round(summary["skipped_old_s"] * 16000)
    assert summary["bytes_received"] == pytest.approx(2 * (len(recorded) + skipped), abs=64)
    assert summary["recorded_s"] == pytest.approx(len(recorded) / 16000, abs=0.01)


async def test_a_killed_stream_record_leaves_a_wav_that_plays(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str, tmp_path: Path
) -> None:
    """SIGKILL of a real `lkbridge stream --record`: the WAV's header covers its last flush."""
    device = await device_factory(room_name, "device")
    await bridge.join("cli-kill", room_name)
    out = tmp_path / "killed.wav"
    proc = subprocess.Popen(
        [sys.executable, "-I", "-m", "lkbridge", "stream", "cli-kill", "--record", str(out),
         "--bridge", bridge.target],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    sender = asyncio.create_task(device.send_packets(tone(330, 8.0), chunk_ms=100))
    try:
        # at least 1.5 s of audio under the file's header: a flush has rewritten its sizes
        await wait_until(lambda: out.exists() and out.stat().st_size > 44 + 48_000, timeout=20)
        proc.kill()
        assert await asyncio.to_thread(proc.wait, 10) == -signal.SIGKILL
    finally:
        sender.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with wave.open(str(out)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        frames = wav.getnframes()
        recorded = np.frombuffer(wav.readframes(frames), dtype=np.int16)
    assert frames >= 16000 and len(recorded) == frames
    assert 44 + 2 * frames <= out.stat().st_size  # the header claims no more than the file has
    assert dominant_frequency(recorded, 16000) == pytest.approx(330, abs=2)


async def test_health_exit_code_when_not_serving(bridge: BridgeEnv) -> None:
    result = await asyncio.to_thread(
        invoke, "health", "--bridge", bridge.target, "--service", "no.such.Service", "--json"
    )
    assert result.exit_code == 4
    assert json.loads(result.stdout)["status"] == "SERVICE_UNKNOWN"

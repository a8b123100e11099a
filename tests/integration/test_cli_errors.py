"""Every command with bad input: a bad bridge address, a missing user, a bad file, bad values.

Each must end with exactly one line on stderr, `error: <cause>`, and the exit code of the README's
table (2: nothing was changed anywhere, 3: the bridge said no), never a traceback. A local fault
found after the user's session exists must leave that session connected.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result

from lkbridge.audio.signal import tone
from tests.audio_server import make_fixture
from tests.conftest import BridgeEnv, DeviceFactory, LiveKitEnv
from tests.helpers import wait_for
from tests.support.cli import invoke, lk_env


def one_line(result: Result, code: int, starts: str) -> str:
    """The single stderr line, after checking the exit code and that nothing else was said."""
    lines = result.stderr.splitlines()
    assert result.exit_code == code, (result.exit_code, result.output)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(starts), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


BRIDGE_COMMANDS = [
    ["health"],
    ["health", "--standard"],
    ["status", "u"],
    ["sessions"],
    ["leave", "u"],
    ["stop", "u"],
    ["play", "u", "http://127.0.0.1:1/a.mp3"],
    ["stream", "u", "--duration", "1"],
    ["join", "u", "--room", "r", "--url", "ws://127.0.0.1:1", "--token", "t"],
]
BAD_BRIDGES = {
    "unix:/nonexistent/bridge.sock": "no socket file /nonexistent/bridge.sock",
    "127.0.0.1:1": "connection refused",
    "no-such-host.invalid:9090": "unknown host",
}


@pytest.mark.parametrize("bridge", list(BAD_BRIDGES))
@pytest.mark.parametrize("command", BRIDGE_COMMANDS, ids=lambda c: c[0])
def test_bad_bridge_address(command: list[str], bridge: str) -> None:
    result = invoke(*command, "--bridge", bridge, "--timeout", "2")
    line = one_line(result, 2, f"error: cannot reach the bridge at {bridge}: ")
    assert BAD_BRIDGES[bridge] in line


def test_health_probe_path_errors() -> None:
    """The executable's own health path (no typer) keeps the same contract."""
    lkbridge = [sys.executable, "-m", "lkbridge", "health"]
    for args, code, text in [
        (["--bridge", "unix:/nonexistent/bridge.sock"], 2, "no socket file"),
        (["--timeout", "soon"], 2, "invalid float value: 'soon'"),
        (["--bogus"], 2, "unrecognized arguments: --bogus"),
    ]:
        done = subprocess.run([*lkbridge, *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == code, done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
        assert text in done.stderr


async def test_join_that_livekit_refuses(bridge: BridgeEnv) -> None:
    env = lk_env(bridge.livekit)
    env["LIVEKIT_URL"] = "ws://127.0.0.1:1"
    result = await asyncio.to_thread(
        invoke, "join", "j", "--room", "r", "--bridge", bridge.target, env=env
    )
    one_line(result, 3, "error: join failed: ")


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not audio\n")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    fast = tmp_path / "768k.wav"
    with wave.open(str(fast), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(768000)
        wav.writeframes(np.zeros(76800, dtype=np.int16).tobytes())
    return {
        "missing": (tmp_path / "nope.mp3", "no such file"),
        "directory": (tmp_path, "not a file"),
        "text": (text, "not an audio file"),
        "empty": (empty, "the file is empty"),
        "768 kHz": (fast, "cannot convert its audio to 16 kHz mono"),
    }


async def test_bad_files_leave_the_session_alone(bridge: BridgeEnv, tmp_path: Path) -> None:
    await bridge.join("files", f"room-files-{os.getpid()}")
    target = ["--bridge", bridge.target]
    for name, (path, text) in bad_files(tmp_path).items():
        result = await asyncio.to_thread(invoke, "stream", "files", "--file", str(path), *target)
        assert text in one_line(result, 2, "error: "), name
    missing = await asyncio.to_thread(invoke, "play", "files", str(tmp_path / "x.mp3"), *target)
    one_line(missing, 2, "error: no such file:")
    clip = make_fixture(tmp_path / "clip.wav", 440, 0.5, 16000, 1)
    unbindable = await asyncio.to_thread(
        invoke, "play", "files", str(clip), "--serve-host", "10.99.99.99", *target
    )
    one_line(unbindable, 2, "error: cannot serve")
    unwritable = await asyncio.to_thread(
        invoke, "stream", "files", "--record", "/nonexistent/dir/o.wav", "--duration", "1",
        *target,
    )  # fmt: skip
    one_line(unwritable, 2, "error: cannot write /nonexistent/dir/o.wav")
    # in a process of its own: PortAudio reads the device list once per process, and a later
    # test (test_cli_sound.py) must see the PulseAudio device it starts
    no_speaker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lkbridge", "stream", "files", "--speaker",
        "--output-device", "no-such-speaker", "--duration", "1", *target,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(no_speaker.communicate(), 60)
    assert no_speaker.returncode == 2 and err.decode().count("\n") == 1, err.decode()
    assert err.decode().startswith(("error: no audio output device", "error: no audio device"))
    status = await bridge.client.status("files")
    assert status.connected  # nothing local reached the bridge


def test_bad_values(livekit_server: LiveKitEnv) -> None:
    env = lk_env(livekit_server)
    for ttl in ("0s", "-5m", "soon", ""):
        result = invoke("token", "--room", "r", "--identity", "i", "--ttl", ttl, env=env)
        one_line(result, 2, "error: Invalid value for --ttl")
    for args, starts in [
        (["stream", "u", "--duration", "0"], "error: Invalid value for --duration"),
        (["stream", "u", "--chunk-ms", "5", "--duration", "1"], "error: Invalid value for"),
        (["stream", "u"], "error: nothing to do"),
        (["stream"], "error: Missing argument"),
        (["dev", "--signal", "music"], "error: Invalid value for --signal"),
        (["device", "--signal", "music"], "error: Invalid value for --signal"),
        (["serve", "--log-format", "xml"], "error: Invalid value"),
        (["serve", "--catch-up-ms", "-1"], "error: Invalid value: catch-up must be between"),
        (["no-such-command"], "error: No such command"),
    ]:
        one_line(invoke(*args, env=env), 2, starts)


def test_serve_on_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "lkbridge", "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot start the bridge"), done.stderr
    assert "Traceback" not in done.stderr


async def test_ctrl_c_ends_a_stream_with_exit_0(bridge: BridgeEnv, tmp_path: Path) -> None:
    await bridge.join("ctrlc", f"room-ctrlc-{os.getpid()}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lkbridge", "stream", "ctrlc", "--record", str(tmp_path / "o.wav"),
        "--bridge", bridge.target, "--json",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip

    async def streaming() -> bool:
        listed = await bridge.client.list_sessions()
        return any(s.user_id == "ctrlc" and s.stream_open for s in listed)

    await wait_for(streaming, 30, "the CLI's stream to be open at the bridge")
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert err == b"" and json.loads(out)["chunks_sent"] == 0
    with wave.open(str(tmp_path / "o.wav")) as wav:
        assert wav.getframerate() == 16000  # a valid (empty: the room was silent) WAV
    assert (await bridge.client.status("ctrlc")).connected


def test_device_with_an_unreachable_livekit(livekit_server: LiveKitEnv) -> None:
    env = {**os.environ, **lk_env(livekit_server), "LIVEKIT_URL": "ws://127.0.0.1:1"}
    done = subprocess.run(
        [sys.executable, "-m", "lkbridge", "device", "--room", "r", "--duration", "1"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: cannot connect to LiveKit at ws://127.0.0.1:1: "
    ), done.stderr
    assert "eyJ" not in done.stderr  # no token (a JWT) in the message


DEVICES = ("/dev/null", "/dev/full")


async def test_a_full_disk_under_the_wav(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("full", room_name)
    sender = asyncio.create_task(device.send_packets(tone(330, 3.0), chunk_ms=100))
    result = await asyncio.to_thread(
        invoke, "stream", "full", "--record", "/dev/full", "--duration", "3",
        "--bridge", bridge.target,
    )  # fmt: skip
    await sender
    one_line(result, 2, "error: cannot write /dev/full: No space left on device")
    assert (await bridge.client.status("full")).connected  # the stream was half-closed
    failed = await asyncio.to_thread(
        invoke, "stream", "nobody", "--record", "/dev/null", "--duration", "1",
        "--bridge", bridge.target,
    )  # fmt: skip
    one_line(failed, 3, "error: session not found: nobody")
    kept = await asyncio.to_thread(lambda: [Path(p).is_char_device() for p in DEVICES])
    assert kept == [True, True]  # a device file is never removed

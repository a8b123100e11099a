"""What the CLI says about the bridge's answers, run as the installed command against a real
bridge and SFU: an unknown user, JSON numbers, a refused playback URL, the level meter on a
terminal, a machine without a microphone."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from lkbridge.audio.signal import tone
from tests.audio_server import make_fixture
from tests.conftest import BridgeEnv, DeviceFactory
from tests.support.cli import LKBRIDGE, one_line, run, run_on_a_terminal


async def arun(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """In a thread: the bridge under test answers on this test's event loop."""
    return await asyncio.to_thread(run, *args, env=env)


async def test_an_unknown_user_is_one_error_everywhere(bridge: BridgeEnv, tmp_path: Path) -> None:
    """Before: `status` exited 0 (connected no); the others exited 3 with three texts."""
    target = ["--bridge", bridge.target]
    clip = make_fixture(tmp_path / "clip.wav", 440, 0.5, 16000, 1)
    commands = [
        ["status", "nobody"],
        ["leave", "nobody"],
        ["stop", "nobody"],
        ["play", "nobody", "http://127.0.0.1:1/a.mp3"],
        ["play", "nobody", str(clip)],
        ["stream", "nobody", "--duration", "1"],
        ["stream", "nobody", "--file", str(clip)],
        ["stream", "nobody", "--record", str(tmp_path / "o.wav"), "--duration", "1"],
    ]
    for command in commands:
        done = await arun(*command, *target)
        assert one_line(done, 3) == "error: session not found: nobody", command
        as_json = json.loads(one_line(await arun(*command, *target, "--json"), 3))
        assert as_json == {"error": "session not found: nobody", "exit_code": 3}, command
    assert not (tmp_path / "o.wav").exists()
    await bridge.join("somebody", f"room-known-{os.getpid()}")
    known = await arun("status", "somebody", "--json", *target)
    assert known.returncode == 0 and json.loads(known.stdout)["connected"] is True


async def test_json_numbers_are_numbers(bridge: BridgeEnv, room_name: str) -> None:
    """Before: `sessions --json` gave counts (int64) as strings beside rates as numbers."""
    await bridge.join("counted", room_name)
    sessions = json.loads((await arun("sessions", "--json", "--bridge", bridge.target)).stdout)
    (info,) = sessions
    for key in ("frames_in", "frames_out", "drops", "participant_count"):
        assert type(info[key]) is int, (key, info[key])
    assert type(info["age_s"]) is float
    health = json.loads((await arun("health", "--json", "--bridge", bridge.target)).stdout)
    assert type(health["uptime_seconds"]) is int and health["active_sessions"] == 1
    status = json.loads(
        (await arun("status", "counted", "--json", "--bridge", bridge.target)).stdout
    )
    assert type(status["last_disconnect_at"]) is int


async def test_a_refused_plain_http_url_does_not_mention_tls(
    bridge: BridgeEnv, room_name: str
) -> None:
    """Before: `... Cannot connect to host 127.0.0.1:1 ssl:default [Connect call failed ...]`."""
    await bridge.join("fetcher", room_name)
    done = await arun("play", "fetcher", "http://127.0.0.1:1/a.mp3", "--bridge", bridge.target)
    assert one_line(done, 3) == (
        "error: playback failed: cannot fetch http://127.0.0.1:1/a.mp3: "
        "cannot connect to 127.0.0.1:1: Connection refused"
    )


async def test_the_level_meter_shows_levels_on_a_terminal(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str, tmp_path: Path
) -> None:
    """Before: rich took `[####....]` for markup and dropped it: no level was ever shown."""
    device = await device_factory(room_name, "device")
    await bridge.join("metered", room_name)
    sender = asyncio.create_task(device.send_packets(tone(330, 4.0, amplitude=0.5)))
    shown = await asyncio.to_thread(
        on_a_terminal,
        "stream", "metered", "--record", str(tmp_path / "o.wav"), "--duration", "3",
        "--bridge", bridge.target,
    )  # fmt: skip
    await sender
    # a -6 dBFS tone fills 18 of the 20 cells (-60..0 dBFS)
    assert re.search(r"in \[#{15,20}\.*\] \d+ chunks", shown), shown[-600:]
    assert re.search(r"out \[\.{20}\] 0 chunks", shown), shown[-600:]


def on_a_terminal(*args: str) -> str:
    """Run the command with its stderr on a pseudo-terminal (where the meter draws); what the
    terminal showed, escape sequences removed."""
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    code, _, shown = run_on_a_terminal([*LKBRIDGE, *args], env, timeout=60)
    assert code == 0, shown
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)


async def test_no_microphone_is_said_in_words(bridge: BridgeEnv, tmp_path: Path) -> None:
    """Before: `error: no audio input device: Error querying device -1`."""
    await bridge.join("mic", f"room-mic-{os.getpid()}")
    quiet = tmp_path / "no-sound-server"
    quiet.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE")}
    env["XDG_RUNTIME_DIR"] = str(quiet)  # no PulseAudio to find: only the machine's own devices
    listed = await asyncio.to_thread(
        subprocess.run, [*LKBRIDGE, "stream", "--list-devices", "--json"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    if listed.returncode == 0 and any(d["max_input_channels"] for d in json.loads(listed.stdout)):
        pytest.skip("this machine has a microphone")
    done = await asyncio.to_thread(
        subprocess.run, [*LKBRIDGE, "stream", "mic", "--mic", "--duration", "1",
                         "--bridge", bridge.target],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert one_line(done, 2) == (
        "error: no audio input device: PortAudio sees no microphone on this machine "
        "(`lkbridge stream --list-devices` shows what it sees)"
    )
    assert (await bridge.client.status("mic")).connected

"""`lkbridge dev` as a user meets it: its own state directory, and commands from the host shell.

Every stack here runs as a real subprocess with a state directory under tmp_path, so nothing
touches a developer's own stack. Commands "from the host shell" run in the host's network
namespace (`ip netns exec lkb-host`, attached by `netns ensure`), where the SFU cannot be reached
directly: that is where a user types them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from lkbridge.audio.signal import dominant_frequency, loud_part
from lkbridge.devstack.netns import Netns
from tests.audio_server import make_fixture
from tests.helpers import poll_until

LKBRIDGE = [sys.executable, "-m", "lkbridge"]


def start_stack(
    state: Path, log: Path | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """A `lkbridge dev` on `state`, and its bridge target once it is ready; its terminal
    (stderr: the banner, what it says later) goes to `log`."""
    proc = subprocess.Popen(
        [*LKBRIDGE, "dev", "--signal", "tone", "--bridge-port", "0"],
        stdout=subprocess.PIPE,
        stderr=log.open("w") if log is not None else subprocess.DEVNULL,
        text=True,
        env={**os.environ, "LKBRIDGE_DEV_DIR": str(state), **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("lkbridge dev ready: bridge unix:"):
        proc.kill()
        pytest.fail(f"the dev stack did not start: {line!r}")
    return proc, line.split()[-1]


def stop_stack(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cli(
    state: Path,
    *args: str,
    host: bool = False,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`lkbridge ARGS` as a separate process; `host`: from the host's network namespace."""
    prefix = ["ip", "netns", "exec", f"{Netns().name}-host"] if host else []
    return subprocess.run(
        [*prefix, *LKBRIDGE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "LKBRIDGE_DEV_DIR": str(state), **(env or {})},
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def children_gone(children: list[psutil.Process], timeout: float = 10) -> None:
    poll_until(
        lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children),
        timeout,
        "the stack's processes to exit",
    )


def test_each_stack_owns_its_state_directory(tmp_path: Path) -> None:
    state = tmp_path / "dev"
    first, target = start_stack(state)
    others: list[subprocess.Popen[str]] = []
    try:
        children = psutil.Process(first.pid).children(recursive=True)
        assert any("livekit-server" in " ".join(c.cmdline()) for c in children)

        second = cli(state, "dev", "--signal", "tone")
        assert second.returncode == 2
        line = one_error_line(second)
        assert f"pid {first.pid}" in line and target in line and "LKBRIDGE_DEV_DIR" in line
        assert first.poll() is None
        assert json.loads(cli(state, "health", "--json").stdout)["active_sessions"] == 1

        beside, beside_target = start_stack(tmp_path / "dev2")  # its own directory: it runs
        others.append(beside)
        assert beside_target != target
        assert cli(state, "health").returncode == 0
        assert cli(tmp_path / "dev2", "health").returncode == 0
        stop_stack(beside)

        first.kill()  # a crash: its state stays behind, its lock goes with it
        first.wait()
        children_gone(children)
        assert (state / "dev.json").exists() and (state / "bridge.sock").exists()
        third, _ = start_stack(state)
        others.append(third)
        status = cli(state, "status", "dev-user", "--json")  # the target found in dev.json
        assert json.loads(status.stdout)["participant_count"] == 2  # bridge + device
        third_children = psutil.Process(third.pid).children(recursive=True)
        third.send_signal(signal.SIGINT)
        assert third.wait(20) == 0
        children_gone(third_children)
        assert not (state / "dev.json").exists() and not (state / "bridge.sock").exists()
    finally:
        for proc in [first, *others]:
            stop_stack(proc)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not Path("/run/netns", f"{Netns().name}-host").exists():
        pytest.fail("no lkb-host namespace: run `python -m lkbridge.devstack.netns ensure`")
    state = tmp_path_factory.mktemp("stack") / "dev"
    proc, _ = start_stack(state)
    try:
        yield state
    finally:
        stop_stack(proc)


def wav_samples(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (16000, 1)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def test_play_a_local_file_from_the_host_heard_by_a_device(stack: Path, tmp_path: Path) -> None:
    clip = make_fixture(tmp_path / "clip.mp3", 640, 2.0, 44100, 1)
    heard = tmp_path / "heard.wav"
    listener = subprocess.Popen(
        [*LKBRIDGE, "device", "--identity", "phone", "--signal", "none",
         "--record", str(heard), "--duration", "9", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, LKBRIDGE_DEV_DIR=str(stack)),
    )  # fmt: skip
    try:
        assert listener.stdout is not None
        joined = json.loads(listener.stdout.readline())  # keys and SFU found by themselves
        assert joined["event"] == "joined" and joined["room"] == "dev-room"
        played = cli(stack, "play", "dev-user", str(clip), "--track", "2", "--json", host=True)
        assert played.returncode == 0, played.stderr
        assert json.loads(played.stdout.splitlines()[-1])["type"] == "COMPLETED"
        out, err = listener.communicate(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
    assert listener.returncode == 0, err
    recorded = [json.loads(line) for line in out.splitlines()]
    assert [r["track"] for r in recorded] == ["tts"]
    samples = wav_samples(tmp_path / "heard.tts.wav")
    loud = loud_part(samples, 16000)
    assert len(loud) / 16000 == pytest.approx(2.0, abs=0.3)
    assert dominant_frequency(loud, 16000) == pytest.approx(640, abs=3)
    assert not list((stack / "files").iterdir())  # the shared link is gone


def test_record_holds_fresh_audio_only(stack: Path, tmp_path: Path) -> None:
    out = tmp_path / "room.wav"

    def queued_bytes() -> int:
        sessions = json.loads(cli(stack, "sessions", "--json", host=True).stdout)
        return sum(int(s["queue_bytes"]) for s in sessions if s["user_id"] == "dev-user")

    # the session's outbox fills with 2 s (64,000 bytes) of room audio meanwhile
    poll_until(lambda: queued_bytes() >= 60_000, 30, "2 s of room audio in the session's outbox")
    result = cli(stack, "stream", "dev-user", "--record", str(out), "--duration", "2", "--json",
                 host=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["skipped_old_s"] >= 1.0  # the queued audio was received, not recorded
    samples = wav_samples(out)
    assert len(samples) == 2 * 16000
    assert dominant_frequency(loud_part(samples, 16000), 16000) == pytest.approx(440, abs=3)
    status = cli(stack, "status", "dev-user", "--json", host=True)
    assert json.loads(status.stdout)["connected"] is True  # the session outlives the stream

    sessions = json.loads(cli(stack, "sessions", "--json", host=True).stdout)
    assert [(s["user_id"], s["room"], s["connected"]) for s in sessions] == [
        ("dev-user", "dev-room", True)
    ]
    table = cli(stack, "sessions", host=True).stdout.splitlines()
    assert table[0].split()[:3] == ["USER", "ROOM", "STATE"]
    assert table[1].split()[:3] == ["dev-user", "dev-room", "connected"]


def test_token_and_join_find_the_stacks_keys(stack: Path) -> None:
    from livekit import api

    keys = json.loads((stack / "dev.json").read_text())
    no_keys = {"LIVEKIT_URL": "", "LIVEKIT_API_KEY": "", "LIVEKIT_API_SECRET": ""}
    minted = cli(stack, "token", "--room", "dev-room", "--identity", "phone", env=no_keys)
    assert minted.returncode == 0, minted.stderr
    claims = api.TokenVerifier(keys["api_key"], keys["api_secret"]).verify(minted.stdout.strip())
    assert (claims.identity, claims.video.room) == ("phone", "dev-room")

    joined = cli(stack, "join", "second-user", "--room", "dev-room", "--target", "device",
                 "--json", host=True, env=no_keys)  # fmt: skip
    assert joined.returncode == 0, joined.stderr
    assert json.loads(joined.stdout)["success"] is True
    left = cli(stack, "leave", "second-user", host=True)
    assert (left.returncode, left.stdout) == (0, "left: second-user\n")


def without_the_venv_on_path() -> dict[str, str]:
    """PATH as in a shell where the venv is not activated (the banner's commands must run)."""
    venv_bin = str(Path(sys.executable).parent)
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and d != venv_bin]
    return {"PATH": os.pathsep.join(kept) or "/usr/bin:/bin"}


def wait_for_line(log: Path, text: str, timeout: float = 30) -> None:
    try:
        poll_until(lambda: text in log.read_text(), timeout, f"the stack to say {text!r}")
    except TimeoutError:
        pytest.fail(f"the stack never said {text!r}; it said:\n{log.read_text()}")


async def test_the_stacks_device_keeps_its_place(tmp_path: Path) -> None:
    """Before: `lkbridge device` joined as `device` and pushed the stack's own device out for
    good, and the stack said nothing; the banner's commands did not run as printed."""
    import asyncio
    import shlex

    from lkbridge.devstack.device import DevicePeer
    from lkbridge.tokens import mint_token

    state, log = tmp_path / "dev", tmp_path / "dev.log"
    path_env = without_the_venv_on_path()
    proc, _ = start_stack(state, log, env=path_env)
    try:
        banner = log.read_text()
        tried = [line.strip() for line in banner.splitlines() if line.startswith("  ")]
        health = next(c for c in tried if c.endswith(" health"))
        play = next(c for c in tried if " play dev-user " in c)
        for command in (health, play):  # as printed, from a shell without the venv on PATH
            done = await asyncio.to_thread(
                subprocess.run, shlex.split(command), capture_output=True, text=True,
                timeout=60, env={**os.environ, "LKBRIDGE_DEV_DIR": str(state), **path_env},
            )  # fmt: skip
            assert done.returncode == 0, (command, done.stderr)
        assert "completed:" in done.stdout

        taken = await asyncio.to_thread(
            cli, state, "device", "--identity", "device", "--duration", "1"
        )
        assert taken.returncode == 2
        assert one_error_line(taken) == (
            "error: identity 'device' is already in room dev-room (the dev stack's own "
            "device): joining would push it out; give another --identity"
        )
        second = await asyncio.to_thread(
            cli, state, "device", "--signal", "none", "--duration", "1", "--json"
        )
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout.splitlines()[0])["identity"] == "device-2"

        info = json.loads((state / "dev.json").read_text())
        token = mint_token(info["api_key"], info["api_secret"], "dev-room", "device")
        intruder = DevicePeer(info["livekit_url"], token, keep_audio=False)
        await intruder.connect()  # as `lk room join --identity device` would
        try:
            await asyncio.to_thread(
                wait_for_line, log, "the stack's device 'device' left dev-room "
                "(DUPLICATE_IDENTITY): another participant joined as 'device'",
            )  # fmt: skip
        finally:
            await intruder.aclose()
        await asyncio.to_thread(wait_for_line, log, "the stack's device 'device' is back")
        out = tmp_path / "room.wav"
        heard = await asyncio.to_thread(
            cli, state, "stream", "dev-user", "--record", str(out), "--duration", "2", host=True
        )
        assert heard.returncode == 0, heard.stderr
        loud = loud_part(wav_samples(out), 16000)
        assert len(loud) > 8000  # the device speaks again: its 440 Hz beeps, half the time
        assert dominant_frequency(loud, 16000) == pytest.approx(440, abs=3)
    finally:
        stop_stack(proc)


def test_join_takes_the_stacks_room(stack: Path) -> None:
    """Before: `join` needed --room even with a dev stack running."""
    no_keys = {"LIVEKIT_URL": "", "LIVEKIT_API_KEY": "", "LIVEKIT_API_SECRET": ""}
    joined = cli(stack, "join", "roomless", "--json", host=True, env=no_keys)
    assert joined.returncode == 0, joined.stderr
    assert json.loads(joined.stdout)["success"] is True
    sessions = json.loads(cli(stack, "sessions", "--json", host=True).stdout)
    assert {s["user_id"]: s["room"] for s in sessions}["roomless"] == "dev-room"
    assert cli(stack, "leave", "roomless", host=True).returncode == 0

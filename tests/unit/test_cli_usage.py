"""The CLI's usage as a user types it, in a process of its own: help, usage errors, addresses
and values it refuses before anything is asked. No bridge and no SFU: each answer is known
before any call, and is one line on stderr with the exit code of the README's table."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import one_line, run


@pytest.mark.parametrize(
    ("args", "text", "see"),
    [
        (["--bogus"], "error: No such option: --bogus", "lkbridge --help`)"),
        (["status", "u", "--bogus"], "error: No such option: --bogus", "lkbridge status --help`)"),
        (["no-such-command"], "error: No such command 'no-such-command'", "lkbridge --help`)"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], text: str, see: str) -> None:
    """Before: `lkbridge --bogus` drew a 4-line box (the root's options are parsed outside
    the commands)."""
    line = one_line(run(*args), 2)
    assert line.startswith(text) and line.endswith(see), line


@pytest.mark.parametrize("args", [["-h"], ["status", "-h"], ["stream", "-h"], ["health", "-h"]])
def test_dash_h_is_help(args: list[str]) -> None:
    done = run(*args)
    assert done.returncode == 0, done.stderr
    assert "Usage: lkbridge" in done.stdout and done.stderr == ""


def test_json_runs_say_their_errors_as_json() -> None:
    for args, code, starts in [
        (["status", "u", "--bridge", "localhost", "--json"], 2, "bad bridge address"),
        (["status", "u", "--bogus", "--json"], 2, "No such option: --bogus"),
        (["health", "--bridge", "unix:/nonexistent/b.sock", "--json"], 2, "cannot reach"),
    ]:
        error = json.loads(one_line(run(*args), code))
        assert error["exit_code"] == code and error["error"].startswith(starts), error


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("localhost", "no port: give host:port"),
        ("nonsense:::", "write an IPv6 address as [addr]:port"),
        ("127.0.0.1:99999", "port '99999' is not a number from 1 to 65535"),
        ("127.0.0.1:0", "port '0' is not a number from 1 to 65535"),
    ],
)
@pytest.mark.parametrize("command", [["health"], ["status", "u"], ["sessions"]], ids=str)
def test_a_malformed_bridge_address_is_refused_at_once(
    command: list[str], address: str, why: str
) -> None:
    """Before: grpc waited its whole timeout, then blamed TLS, or called 99999 refused."""
    line = one_line(run(*command, "--bridge", address, "--timeout", "20"), 2)
    assert line == f"error: bad bridge address {address!r}: " + line.split(": ", 2)[2]
    assert why in line and "TLS" not in line


def test_serve_names_a_missing_socket_directory(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "b.sock"
    line = one_line(run("serve", "--socket", str(path)), 2)
    assert line == (
        f"error: cannot listen on unix:{path}: no directory {path.parent} (create it first)"
    )


@pytest.mark.parametrize("volume", ["-1", "0", "7", "nan"])
def test_play_volume_has_a_range(volume: str, tmp_path: Path) -> None:
    """Before: -1 played silence and reported completed, 7 clipped."""
    clip = tmp_path / "clip.wav"
    write_wav(clip)
    line = one_line(run("play", "u", str(clip), "--volume", volume, "--bridge", "127.0.0.1:1"), 2)
    assert line.startswith("error: Invalid value for --volume: ")
    assert "more than 0 and at most 1" in line


def test_a_non_audio_file_is_one_error_in_play_and_stream(tmp_path: Path) -> None:
    """Before: `play` let the bridge fail on it (exit 3), `stream --file` refused it (exit 2)."""
    text = tmp_path / "notes.txt"
    text.write_text("hello, not audio\n")
    target = ["--bridge", "127.0.0.1:1"]
    played = one_line(run("play", "u", str(text), *target), 2)
    streamed = one_line(run("stream", "u", "--file", str(text), *target), 2)
    assert played == streamed == f"error: {text}: not an audio file FFmpeg can read"


def test_list_devices_needs_no_user() -> None:
    done = run("stream", "--list-devices")
    assert "Missing argument" not in done.stderr
    if done.returncode == 0:
        assert done.stdout.strip()
    else:  # a machine without audio devices
        assert one_line(done, 2) == "error: no audio devices found (PortAudio sees none)"
    missing = one_line(run("stream"), 2)
    assert missing.startswith("error: Missing argument 'USER_ID'")


@pytest.mark.parametrize("command", ["dev", "device", "stream"])
def test_help_paragraphs_break_only_where_the_terminal_does(command: str) -> None:
    """Before: a docstring's own line breaks showed up inside the terminal's wrapping, so
    `dev --help` and `device --help` broke lines mid-sentence."""
    import inspect

    from lkbridge.cli import audio, dev, device

    function = {"dev": dev.dev, "device": device.device, "stream": audio.stream}[command]
    paragraphs = inspect.cleandoc(function.__doc__ or "").split("\n\n")
    done = run(command, "--help", env={"COLUMNS": "400", "TERM": "dumb"})
    assert done.returncode == 0, done.stderr
    shown = [line.strip() for line in done.stdout.splitlines()]
    for paragraph in paragraphs:
        assert " ".join(paragraph.split()) in shown, paragraph  # the paragraph on one line


def write_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes((np.sin(np.arange(8000) / 5) * 8000).astype(np.int16).tobytes())

"""The CLI's pure parts: what `health` imports, the probe parser in step with the typer command,
the profile and its precedence, the state directory's lock, the recorder's fresh-audio rule."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import typer
from livekit import api
from typer.testing import CliRunner

import lkbridge
from lkbridge.cli import probe
from lkbridge.cli.device import recording_path
from lkbridge.cli.main import OneLineErrors, app
from lkbridge.cli.profile import Profile, ProfileError, parse_profile
from lkbridge.cli.rooms import parse_ttl
from lkbridge.cli.serve import (
    LOG_LEVELS_HELP,
    PUBLISH_BITRATE_DEFAULT,
    TRACK_QUIET_MS_DEFAULT,
)
from lkbridge.cli.sessions import age
from lkbridge.cli.streaming import Recorder
from lkbridge.devstack.state import DevInfo, StackRunning, StateDir, load_dev_info
from lkbridge.server.config import LOG_LEVELS, BridgeConfig

runner = CliRunner()


def test_version_matches_the_package() -> None:
    assert lkbridge.__version__ == importlib.metadata.version("lkbridge")


def test_serve_help_names_every_log_level() -> None:
    assert LOG_LEVELS_HELP.split("/") == list(LOG_LEVELS)


def test_serve_defaults_to_the_servers_publish_bitrate() -> None:
    assert BridgeConfig().publish_bitrate == PUBLISH_BITRATE_DEFAULT


def test_serve_defaults_to_the_servers_quiet_spell() -> None:
    assert BridgeConfig().track_quiet_ms == TRACK_QUIET_MS_DEFAULT


@pytest.mark.parametrize("argv", [["health", "--bridge", "unix:/nonexistent"], ["--version"]])
def test_probe_paths_import_nothing_heavy(argv: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['lkbridge', *{argv!r}]\n"
        "from lkbridge.cli.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('typer', 'pydantic', 'rich', 'numpy', 'av', 'aiohttp', 'livekit',\n"
        "         'lkbridge.server', 'lkbridge.devstack.livekit')\n"
        "print('HEAVY=' + ','.join(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "HEAVY=", done.stderr


def test_the_probe_parser_and_the_typer_command_agree() -> None:
    command = typer.main.get_command(app).commands["health"]  # type: ignore[attr-defined]
    typed = {
        p.opts[0]: (p.default, p.envvar)
        for p in command.params
        if getattr(p, "param_type_name", "") == "option"
    }
    parser = probe.parser()
    probed = {a.option_strings[0]: a.default for a in parser._actions if a.option_strings}
    assert set(probed) == set(typed)
    for flag, (default, envvar) in typed.items():
        if envvar is None:
            assert probed[flag] == (default if default is not None else False), flag


def test_profile_parsing() -> None:
    assert parse_profile("", "p") == Profile()
    got = parse_profile('bridge = "unix:/run/b.sock"\nlivekit_api_key = "k"\n', "p")
    assert (got.bridge, got.livekit_api_key) == ("unix:/run/b.sock", "k")
    with pytest.raises(ProfileError, match=r"p: unknown key 'brige'"):
        parse_profile('brige = "x"', "p")
    with pytest.raises(ProfileError, match="p: not valid TOML"):
        parse_profile("bridge = ", "p")
    with pytest.raises(ProfileError, match="p: bridge must be a string"):
        parse_profile("bridge = 9090", "p")


def test_flags_beat_the_environment_which_beats_the_profile(tmp_path: Path) -> None:
    profile = tmp_path / "config.toml"
    profile.write_text(
        'bridge = "unix:/from/profile.sock"\n'
        'livekit_api_key = "profilekey"\n'
        'livekit_api_secret = "profile-secret-of-at-least-32-characters"\n'
    )
    env = {"LKBRIDGE_CONFIG": str(profile), "LKBRIDGE_TARGET": ""}

    def where(*args: str, **extra: str) -> str:
        result = runner.invoke(app, ["status", "u", "--timeout", "1", *args], env=env | extra)
        assert result.exit_code == 2
        return result.stderr.split(": ")[1].removeprefix("cannot reach the bridge at ")

    assert where().startswith("unix:/from/profile.sock")
    assert where(LKBRIDGE_TARGET="unix:/from/env.sock").startswith("unix:/from/env.sock")
    flagged = where("--bridge", "unix:/from/flag.sock", LKBRIDGE_TARGET="unix:/from/env.sock")
    assert flagged.startswith("unix:/from/flag.sock")

    jwt = runner.invoke(
        app, ["token", "--room", "r", "--identity", "i"],
        env=env | {"LIVEKIT_API_KEY": "", "LIVEKIT_API_SECRET": ""},
    ).stdout.strip()  # fmt: skip
    verifier = api.TokenVerifier("profilekey", "profile-secret-of-at-least-32-characters")
    assert verifier.verify(jwt).identity == "i"

    profile.write_text("bridge = [")
    broken = runner.invoke(app, ["status", "u"], env=env)
    assert broken.exit_code == 2
    assert broken.stderr.startswith(f"error: {profile}: not valid TOML")
    assert len(broken.stderr.splitlines()) == 1


def test_unexpected_errors_are_one_line() -> None:
    crashing = typer.Typer(cls=OneLineErrors)

    @crashing.command()
    def boom() -> None:
        raise ZeroDivisionError("division by zero")

    @crashing.command()
    def other() -> None:
        pass

    result = runner.invoke(crashing, ["boom"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: internal error: ZeroDivisionError: division by zero "
        "(LKBRIDGE_DEBUG=1 shows the traceback)\n"
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), ("45", 45)]
)
def test_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["0s", "-5m", "0", "soon", "", "5x"])
def test_ttl_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_ttl(text)


def info(pid: int) -> DevInfo:
    return DevInfo("ws://x", "k", "s", "t", "unix:/s", "r", "u", "d", "tone", pid=pid)


def test_state_directory_lock(tmp_path: Path) -> None:
    first = StateDir(tmp_path / "dev")
    first.acquire()
    first.write_info(info(os.getpid()))
    assert load_dev_info(first.path) == info(os.getpid())
    second = StateDir(tmp_path / "dev")
    with pytest.raises(StackRunning, match=rf"pid {os.getpid()}, bridge unix:/s"):
        second.acquire()
    first.release()
    assert load_dev_info(first.path) is None
    second.acquire()  # free again
    second.release()


def test_a_dead_stack_is_not_running(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    state = StateDir(tmp_path / "dev")
    state.path.mkdir(parents=True)
    (state.path / "dev.json").write_text(json.dumps(info(int(dead.stdout)).__dict__))
    (state.path / "bridge.sock").write_text("")
    assert load_dev_info(state.path) is None  # its commands fall back, never hang on it
    state.acquire()  # and it blocks no new stack: the leftovers go
    assert not (state.path / "bridge.sock").exists() and (state.path / "files").is_dir()
    state.release()


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


def test_age() -> None:
    assert [age(s) for s in (5, 75, 3725)] == ["5s", "1m15s", "1h02m"]


SETPRIV_NOBODY = ["setpriv", "--reuid", "10002", "--regid", "10002", "--clear-groups"]


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv"
)
def test_a_home_of_another_user_holds_no_profile() -> None:
    """A probe run as another uid with root's HOME (setpriv, a container's exec) cannot search
    that HOME: no profile, not an error. A profile it can see but not read still is one."""
    outer = Path(tempfile.mkdtemp(prefix="lkbridge-home-"))
    try:
        outer.chmod(0o755)
        home = outer / "home"
        (home / ".config" / "lkbridge").mkdir(parents=True)
        (home / ".config" / "lkbridge" / "config.toml").write_text('bridge = "unix:/x"\n')
        code = "from lkbridge.cli.profile import load_profile; print(load_profile().bridge)"
        env = {"PATH": os.environ["PATH"], "HOME": str(home)}

        def as_nobody() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*SETPRIV_NOBODY, sys.executable, "-c", code],
                capture_output=True,
                text=True,
                env=env,
                timeout=30,
                cwd=str(outer),
            )

        home.chmod(0o700)  # another user's HOME: not searchable
        hidden = as_nobody()
        assert (hidden.returncode, hidden.stdout) == (0, "\n"), hidden.stderr
        home.chmod(0o755)  # visible, but the file is the owner's alone
        (home / ".config" / "lkbridge" / "config.toml").chmod(0o600)
        unreadable = as_nobody()
        assert unreadable.returncode != 0 and "cannot read: Permission denied" in unreadable.stderr
    finally:
        shutil.rmtree(outer, ignore_errors=True)


def test_the_dashboard_takes_the_profile_s_bridge_and_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lkbridge.tui.app

    profile = tmp_path / "config.toml"
    profile.write_text('bridge = "unix:/from/profile.sock"\nauth_token = "from-profile"\n')
    opened: list[tuple[str, str | None]] = []

    class Dashboard:  # records what the command built it with; the real app is Pilot-tested
        def __init__(self, target: str, *, auth_token: str | None, interval_ms: int) -> None:
            opened.append((target, auth_token))

        def run(self) -> None:
            pass

    monkeypatch.setattr(lkbridge.tui.app, "BridgeDashboard", Dashboard)
    env = {"LKBRIDGE_CONFIG": str(profile), "LKBRIDGE_TARGET": "", "LKBRIDGE_AUTH_TOKEN": ""}
    assert runner.invoke(app, ["tui"], env=env).exit_code == 0
    assert runner.invoke(app, ["tui", "--auth-token", "flag"], env=env).exit_code == 0
    assert opened == [
        ("unix:/from/profile.sock", "from-profile"),
        ("unix:/from/profile.sock", "flag"),
    ]

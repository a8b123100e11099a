"""The CLI profile: its parsing, flags over the environment over the profile, a HOME it cannot
read, and the dashboard taking its bridge and token.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from livekit import api

from lkbridge.cli.main import app
from lkbridge.cli.profile import Profile, ProfileError, parse_profile
from tests.support.cli import runner


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

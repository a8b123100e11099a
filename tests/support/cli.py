"""The CLI as the tests drive it: in-process (typer's runner), or as the installed command in a
process of its own (what a user types); and the LiveKit environment its commands read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from typer.testing import CliRunner, Result

if TYPE_CHECKING:
    from tests.conftest import LiveKitEnv

runner = CliRunner()

LKBRIDGE = [str(Path(sys.executable).parent / "lkbridge")]  # the installed console script


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """`lkbridge ARGS` in this process, through typer's runner."""
    from lkbridge.cli.main import app

    return runner.invoke(app, list(args), env=env)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`lkbridge ARGS` as the installed command, `env` over this process's environment."""
    return subprocess.run(
        [*LKBRIDGE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def one_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    """The single stderr line, after checking the exit code; no box, no traceback."""
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def lk_env(livekit: LiveKitEnv) -> dict[str, str]:
    """LIVEKIT_URL and the API key pair of `livekit`, as a user exports them."""
    cfg = livekit.server.config
    return {
        "LIVEKIT_URL": cfg.url,
        "LIVEKIT_API_KEY": cfg.api_key,
        "LIVEKIT_API_SECRET": cfg.api_secret,
    }

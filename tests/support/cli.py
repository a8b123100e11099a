"""The CLI as the tests drive it: in-process (typer's runner), or as the installed command in a
process of its own (what a user types); and the LiveKit environment its commands read."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
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


def run_on_a_terminal(
    argv: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 240
) -> tuple[int, str, str]:
    """(exit code, stdout, what the terminal showed on stderr): stderr is a pseudo-terminal,
    where live lines and meters draw. A child still running after `timeout` is killed."""
    master, slave = pty.openpty()
    shown: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: every writer closed its end
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=slave,
                                    stdin=subprocess.DEVNULL, text=True)  # fmt: skip
        finally:
            os.close(slave)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        reader.join(10)
    finally:
        os.close(master)
    return proc.returncode, out, b"".join(shown).decode(errors="replace")

"""The CLI against real processes: `lkbridge dev` end to end, health/status exit codes and JSON."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import psutil
from click.testing import Result
from typer.testing import CliRunner

from lkbridge.cli.main import app
from lkbridge.devstack.stack import dev_info_path
from tests.conftest import BridgeEnv

runner = CliRunner()


async def test_health_and_status_commands(bridge: BridgeEnv, room_name: str) -> None:
    await bridge.join("cli-user", room_name)

    def invoke(*args: str) -> Result:  # the CLI runs its own event loop: keep it off ours
        return runner.invoke(app, list(args))

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


def test_health_exit_code_when_unreachable() -> None:
    result = runner.invoke(app, ["health", "--bridge", "127.0.0.1:1", "--timeout", "0.5"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot reach the bridge at 127.0.0.1:1")
    assert "Traceback" not in result.output


def test_dev_stack_subprocess() -> None:
    env = dict(os.environ, LKBRIDGE_DEV_LIVEKIT_PORT="7920")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lkbridge", "dev", "--bridge-port", "0", "--signal", "tone"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("lkbridge dev ready: bridge unix:"), line
        target = line.split()[-1]
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("livekit-server" in " ".join(c.cmdline()) for c in children)
        deadline = time.monotonic() + 10
        while True:
            result = runner.invoke(app, ["health", "--bridge", target, "--json"])
            if result.exit_code == 0 and json.loads(result.stdout)["active_sessions"] == 1:
                break
            assert time.monotonic() < deadline, result.output
            time.sleep(0.2)
        status = runner.invoke(app, ["status", "dev-user", "--json"])  # target from dev.json
        assert json.loads(status.stdout)["participant_count"] == 2  # bridge + device
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
        assert not dev_info_path().exists()
    finally:
        if proc.poll() is None:
            proc.kill()

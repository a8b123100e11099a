"""The lab's one bridge launcher (lkbridge/devstack/bridge.py) and child helper (lkbridge/procs.py),
through a real `lkbridge serve`."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lkbridge.client import BridgeClient
from lkbridge.devstack.bridge import BridgeStartError, start_bridge, start_bridge_async
from lkbridge.procs import NotReady, wait_ready


async def test_started_ready_and_stopped_cleanly() -> None:
    with start_bridge("--host", "127.0.0.1", "--port", "0") as bridge:
        assert bridge.line == f"lkbridge listening on {bridge.target}"
        async with BridgeClient(bridge.target) as client:
            assert (await client.health()).status == 1  # SERVING
        assert bridge.stop() == 0  # SIGTERM: a clean stop
    assert bridge.proc.returncode == 0


async def test_the_async_variant_as_a_context_manager() -> None:
    bridge = await start_bridge_async("--host", "127.0.0.1", "--port", "0")
    async with bridge, BridgeClient(bridge.target) as client:
        assert (await client.health()).status == 1
    assert bridge.proc.returncode == 0


def test_a_package_in_the_callers_directory_cannot_shadow_the_bridge(tmp_path: Path) -> None:
    """The child is `python -I`: an `lkbridge` in the working directory is not imported."""
    fake = tmp_path / "lkbridge"
    fake.mkdir()
    (fake / "__main__.py").write_text("raise SystemExit('the shadow package ran')\n")
    shadowed = subprocess.run(
        [sys.executable, "-m", "lkbridge", "serve", "--port", "0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shadowed.stderr.strip() == "the shadow package ran"  # what -I protects from
    with start_bridge("--host", "127.0.0.1", "--port", "0", cwd=str(tmp_path)) as bridge:
        assert bridge.target.startswith("127.0.0.1:")


def test_a_bridge_that_exits_is_one_line_with_its_exit_code() -> None:
    with pytest.raises(BridgeStartError) as raised:
        start_bridge("--port", "0", "--loop", "trio")  # refused by serve: usage, exit 2
    assert str(raised.value).startswith("lkbridge serve did not start: exited with 2")


def test_a_child_silent_past_its_timeout_is_killed() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "print('starting', flush=True); import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    with pytest.raises(NotReady) as raised:
        wait_ready(proc, "ready", timeout=1.0)
    assert str(raised.value) == "no ready line within 1 s: 'starting'"
    assert proc.returncode == -signal.SIGKILL

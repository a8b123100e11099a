"""The dev stack's state directory: its lock, and a dead stack's leftovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lkbridge.devstack.state import DevInfo, StackRunning, StateDir, load_dev_info


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

"""A real `lkbridge serve` process for a test (the lab's one launcher), and the fixture that
stops what a test left running."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator, Sequence

import pytest

from lkbridge.devstack.bridge import BridgeProcess, start_bridge

LKBRIDGE = [sys.executable, "-m", "lkbridge"]
ServeProcess = BridgeProcess


@pytest.fixture
def serve_process() -> Iterator[list[BridgeProcess]]:
    """Serve processes a test appends here are killed at teardown if they still run."""
    started: list[BridgeProcess] = []
    yield started
    for served in started:
        served.stop(signal.SIGKILL)


def start_serve(*args: str, prefix: Sequence[str] = ()) -> BridgeProcess:
    """`[*prefix,] lkbridge serve ARGS`, once it says where it listens."""
    return start_bridge(*args, prefix=prefix)

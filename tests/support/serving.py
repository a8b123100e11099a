"""A real `lkbridge serve` process for a test, and the fixture that kills what a test left."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

LKBRIDGE = [sys.executable, "-m", "lkbridge"]


@dataclass
class ServeProcess:
    proc: subprocess.Popen[str]
    target: str


@pytest.fixture
def serve_process() -> Iterator[list[ServeProcess]]:
    """Serve processes a test appends here are killed at teardown if they still run."""
    started: list[ServeProcess] = []
    yield started
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()


def start_serve(*args: str) -> ServeProcess:
    """`lkbridge serve ARGS`, once it says where it listens."""
    proc = subprocess.Popen(
        [*LKBRIDGE, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("lkbridge listening on "), line
    return ServeProcess(proc, line.split()[-1])

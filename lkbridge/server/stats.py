"""Live figures of the process and its sessions, computed in one place.

HealthCheck's metadata reads them here (and later the admin service and the metrics endpoint),
so every view shows the same numbers.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass

import psutil

from lkbridge import __version__

_process = psutil.Process()


@dataclass(frozen=True)
class ProcessFigures:
    uptime_s: float
    rss_mb: float
    tasks: int
    threads: int
    open_fds: int


class Stats:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.active_streams = 0
        self.streams_total = 0
        self.version = __version__

    def uptime_s(self) -> float:
        return time.monotonic() - self.started

    def process(self) -> ProcessFigures:
        try:
            fds = _process.num_fds()
        except (AttributeError, psutil.Error):
            fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
        return ProcessFigures(
            uptime_s=self.uptime_s(),
            rss_mb=_process.memory_info().rss / (1024 * 1024),
            tasks=len(asyncio.all_tasks()),
            threads=threading.active_count() + _native_threads_extra(),
            open_fds=fds,
        )


def _native_threads_extra() -> int:
    """Threads Python does not know about (the SDK's Rust runtime, gRPC's pollers)."""
    try:
        return max(0, int(_process.num_threads()) - threading.active_count())
    except psutil.Error:
        return 0

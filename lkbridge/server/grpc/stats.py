"""Live figures of the process and its sessions, computed in one place.

HealthCheck's metadata, the admin service and the metrics endpoint read them here, so every
view shows the same numbers.
"""

from __future__ import annotations

import asyncio
import os
import time
from array import array
from dataclasses import dataclass

import psutil

from lkbridge import __version__
from lkbridge.percentiles import percentile
from lkbridge.server.cpu_load import process_cpu_s
from lkbridge.server.stalls import STALLS, LoopStalls

_process = psutil.Process()


@dataclass(frozen=True)
class ProcessFigures:
    uptime_s: float
    rss_mb: float
    tasks: int
    threads: int
    open_fds: int


class LatencyRecorder:
    """The last `size` latencies in ms; percentiles on demand, O(1) per record (hot path).

    A ring of C doubles, filled as samples come (8 bytes a sample): a deque of Python floats
    took 32-40, about 1.2 MB for the process's four recorders once full, which stayed after
    every session left (bench/leftovers.py)."""

    def __init__(self, size: int = 8192) -> None:
        self._size = size
        self._samples = array("d")
        self._next = 0  # once full: the oldest sample, overwritten next

    def record(self, seconds: float) -> None:
        if len(self._samples) < self._size:
            self._samples.append(seconds * 1000.0)
            return
        self._samples[self._next] = seconds * 1000.0
        self._next = (self._next + 1) % self._size

    def percentile(self, q: float) -> float:
        return percentile(self._samples, q) if self._samples else 0.0

    def __len__(self) -> int:
        return len(self._samples)


class Stats:
    def __init__(self, stalls: LoopStalls = STALLS) -> None:
        self._stalls = stalls  # the process's loop heartbeat: its lag is a figure of ours
        self.started = time.monotonic()
        self.active_streams = 0
        self.streams_total = 0
        self.errors = 0
        self.version = __version__
        # bridge-added latency: gRPC chunk received -> its first frame handed to capture_frame
        # (whose FFI request copies it): a lower bound of the audio path's
        self.latency_in = LatencyRecorder()
        # ... -> capture_frame returned for its last frame, after the SDK's acknowledgement: an
        # upper bound, and what holds up the stream's next chunk
        self.latency_in_ack = LatencyRecorder()
        # audio a chunk's first frame found queued in its track's source: it waits that long
        # before the SDK's 10 ms timer sends it (the backlog that catch-up keeps short)
        self.latency_queue = LatencyRecorder()
        # data packet received from the room -> written to the gRPC stream
        self.latency_out = LatencyRecorder()

    def latency_figures(self) -> dict[str, str]:
        figures = {}
        recorders = (
            ("in", self.latency_in),
            ("in_ack", self.latency_in_ack),
            ("queue", self.latency_queue),
            ("out", self.latency_out),
        )
        for name, recorder in recorders:
            for q in (50, 99):
                figures[f"latency_{name}_p{q}_ms"] = f"{recorder.percentile(q):.2f}"
        return figures

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
            threads=_process.num_threads(),  # the SDK's and gRPC's native threads too
            open_fds=fds,
        )

    def cpu_seconds(self) -> float:
        """CPU time used so far, user + system: a caller's rate over its own interval, with no
        bookkeeping shared with cpu_percent's callers."""
        return process_cpu_s()

    def cpu_percent(self) -> float:
        """CPU % of one core since the previous call (psutil's own bookkeeping)."""
        return float(_process.cpu_percent())

    @property
    def loop_lag_ms(self) -> float:
        """How late the event loop wakes up (the stall heartbeat's, stalls.py): the figure that
        says a process is starved."""
        return self._stalls.lag_s * 1000

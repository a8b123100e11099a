"""How much of the CPU this process may use it used over the last seconds: admission's bound on
saturation (`--max-cpu`, session/registry.py).

Past the knee the delay builds where no bound of the bridge's sees it: on one saturated core the
glasses' data packets waited 151 ms (p50) in the SDK's native threads before Python saw them,
then 1.3 ms from there to the gRPC write (docs/benchmarks.md, "Capacity beside the Go bridge"),
and the packets carry no send time to judge them by. `--max-sessions` is a count set from one
machine's knee, and a session's cost moves with what it says and with the host (one core carried
15 sessions in one state and 20 in another). The process's own CPU against what it may use is
the signal that follows the knee wherever it falls: the same runs held at 70-76 % of the core and
failed from 80 % on. A new session is refused while the window's use is at or past the bound,
so the sessions that were fine stay fine; sessions already held are never shed.

What the process may use: the cores it may run on (its affinity), capped by a cgroup CPU quota
(a container's CPU limit, v2 `cpu.max` or v1 `cpu.cfs_quota_us`), shared evenly by the session
processes of one front (`--workers`). Other busy processes on the same cores are not seen: on a
shared host set `--max-cpu` lower, or rely on `--max-sessions`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

# long enough that a join's own start-up does not trip it, short enough to follow the load
WINDOW_S = 5.0
SAMPLE_S = 1.0


def process_cpu_s() -> float:
    """CPU seconds this process used so far, user + system (HealthCheck's `cpu_s` too)."""
    times = os.times()
    return times.user + times.system  # every thread of the process, not its children


def _cgroup_quota_cores(proc_cgroup: Path, cgroup_root: Path) -> float | None:
    """The tightest CPU quota, in cores, of this process's cgroup and its parents (a pod's
    limit can sit on the pod's cgroup, a systemd slice's above the service's); None without one
    or without a cgroup file system."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    quotas: list[float] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2's one hierarchy (on a hybrid host, next to v1's lines)
            quotas += _quotas(cgroup_root, path, _read_v2)
        elif "cpu" in controllers.split(","):
            for mount in (cgroup_root / controllers, cgroup_root / "cpu"):
                quotas += _quotas(mount, path, _read_v1)
    return min(quotas, default=None)


def _quotas(mount: Path, path: str, read: Callable[[Path], float | None]) -> list[float]:
    """The quotas set on `path` and each of its parents under `mount`. Inside a container's
    cgroup namespace the path may name folders the mount lacks: the mount's root is read then."""
    folders = [mount]
    for part in Path(path.strip("/")).parts:
        folders.append(folders[-1] / part)
    return [quota for folder in folders if (quota := read(folder)) is not None]


def _read_v2(folder: Path) -> float | None:
    """Cores from a v2 `cpu.max` ("50000 100000"); None for "max", or no such file."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _read_v1(folder: Path) -> float | None:
    """Cores from v1's `cpu.cfs_quota_us` over `cpu.cfs_period_us`; None for -1, or no files."""
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def cpu_limit_cores(
    processes: int = 1,
    proc_cgroup: Path = Path("/proc/self/cgroup"),
    cgroup_root: Path = Path("/sys/fs/cgroup"),
) -> float:
    """The cores this process may use: its affinity, capped by its cgroup's quota, split
    evenly among `processes` session processes that share them (a front's workers)."""
    cores = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    quota = _cgroup_quota_cores(proc_cgroup, cgroup_root)
    if quota is not None:
        cores = min(cores, quota)
    return cores / max(1, processes)


class CpuLoad:
    """The process's CPU use over the last `window_s`, in % of what it may use."""

    def __init__(
        self,
        limit_cores: float | None = None,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        read_cpu: Callable[[], float] = process_cpu_s,
    ) -> None:
        self.limit_cores = cpu_limit_cores() if limit_cores is None else limit_cores
        self.window_s = window_s
        self._clock = clock
        self._read_cpu = read_cpu
        self._samples: deque[tuple[float, float]] = deque()  # (clock, CPU seconds), oldest first

    def sample(self) -> None:
        now = self._clock()
        self._samples.append((now, self._read_cpu()))
        # keep the oldest sample at least a window old: the window is always whole
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window_s:
            self._samples.popleft()

    @property
    def percent(self) -> float:
        """Use from the oldest sample kept (a window and up to one sample period ago) to the
        newest (up to a period ago). Before a whole window has passed since the first sample,
        the CPU used so far is spread over a whole window: the first joins after a start are
        judged by their cost over 5 s, not over the second or two they took (a bridge starting
        into a crowd reconnecting would refuse it otherwise); 0 before a second sample."""
        if len(self._samples) < 2:
            return 0.0
        (t0, cpu0), (t1, cpu1) = self._samples[0], self._samples[-1]
        if self.limit_cores <= 0:
            return 0.0
        return 100.0 * (cpu1 - cpu0) / max(t1 - t0, self.window_s) / self.limit_cores

    async def watch(self, period_s: float = SAMPLE_S) -> None:
        """Sample every `period_s` for as long as the loop runs (a task of the server's)."""
        while True:
            self.sample()
            await asyncio.sleep(period_s)

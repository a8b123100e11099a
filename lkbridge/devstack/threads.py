"""A process's OS threads by name, and the CPU they ran: how the lab tells the SDK's native
threads (the Opus encoder, the capture timers) apart, which no Python profiler sees.

Read from /proc (Linux); a thread that ends while it is read is left out.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable


def threads(pid: int | str = "self") -> dict[int, str]:
    """tid -> name (/proc/PID/task/TID/comm)."""
    out: dict[int, str] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as comm:
                out[int(tid)] = comm.read().strip()
        except OSError:
            continue  # ended meanwhile
    return out


def named(kind: str, pid: int | str = "self") -> set[int]:
    """The tids of the threads called `kind`."""
    return {tid for tid, name in threads(pid).items() if name == kind}


def thread_names(pid: int | str = "self", *, drop_digits: bool = False) -> Counter[str]:
    """How many threads of each name; `drop_digits` counts `livekit_ffi-1` as `livekit_ffi`."""
    names = list(threads(pid).values())
    if drop_digits:
        names = [name.rstrip("0123456789_-#") or "?" for name in names]
    return Counter(names)


def cpu_ns(tids: Iterable[int], pid: int | str = "self") -> int:
    """CPU time the threads ran, in ns (schedstat's first field: finer than stat's ticks)."""
    return _schedstat_sum(tids, pid, 0)


def run_delay_ns(pid: int | str = "self") -> int:
    """Time every thread of the process waited, runnable, for a CPU, in ns (schedstat's
    second field): what the process lacked, whoever took the cores."""
    return _schedstat_sum(threads(pid), pid, 1)


def _schedstat_sum(tids: Iterable[int], pid: int | str, field: int) -> int:
    total = 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
                total += int(stat.read().split()[field])
        except OSError:
            continue
    return total

"""Give freed heap back to the OS: after a session closes, and after any burst.

The SDK's native side frees a room's buffers into glibc's arenas, which keep them; so does grpc
core after a burst of connections or calls (issue 23: 20,000 streams or connections left
100-450 MB that never came back). RSS then stays high after the load has gone, which looks like
a leak to anyone watching and counts against a pod's memory limit. glibc's malloc_trim returns
those pages; `trim_after_bursts` calls it whenever RSS grew by a few MB since the last trim.
Elsewhere (musl, macOS) all of this is a no-op.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

TRIM_PERIOD_S = 5.0
TRIM_ABOVE_BYTES = 8 * 1024 * 1024  # RSS growth before a trim is worth its arena locks
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


_libc: ctypes.CDLL | None = None
try:
    _name = ctypes.util.find_library("c")
    if _name:
        _candidate = ctypes.CDLL(_name)
        if hasattr(_candidate, "malloc_trim"):
            _libc = _candidate
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
            if hasattr(_libc, "mallinfo2"):  # glibc >= 2.33
                _libc.mallinfo2.restype = _MallInfo2
except OSError:  # pragma: no cover - no libc to load
    _libc = None


def release_free_memory() -> bool:
    """True when the allocator returned memory to the OS."""
    if _libc is None:
        return False
    return bool(_libc.malloc_trim(0))


def free_heap_bytes() -> int | None:
    """Bytes glibc holds free in its arenas (returnable by a trim); None where unknown."""
    if _libc is None or not hasattr(_libc, "mallinfo2"):
        return None
    return int(_libc.mallinfo2().fordblks)


def resident_bytes() -> int | None:
    """This process's RSS (/proc/self/statm); None where there is no /proc."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


async def trim_after_bursts(
    period_s: float = TRIM_PERIOD_S,
    read_rss: Callable[[], int | None] = resident_bytes,
    read_free: Callable[[], int | None] = free_heap_bytes,
    trim: Callable[[], bool] = release_free_memory,
) -> None:
    """Every `period_s`, return the free heap to the OS when, since the last trim, glibc's free
    heap grew by TRIM_ABOVE_BYTES (memory was freed: a burst ended) or RSS did (free memory was
    made resident again), or every period where the free figure is unknown (no mallinfo2).

    The free figure alone (mallinfo2's fordblks) misses churn: it also counts free chunks whose
    pages a trim already returned, so when sessions and playbacks come and go those chunks are
    reused and freed again, their pages resident once more, while the free figure stays where
    it was: RSS crept up about 10 KB a join in a two-hour soak (docs/benchmarks.md) while what a
    trim leaves stayed flat. RSS alone misses the end of a burst: freeing does not lower RSS, so
    a burst whose memory is freed after the trim would keep it. A trim that finds nothing to
    return (RSS grew with live sessions) costs one call per 8 MB of growth. In a thread:
    trimming a heap that a burst grew to hundreds of MB takes tens of ms, which the event loop
    must not wait for; mallinfo2 walks every free chunk under the arenas' locks, so it too."""
    if _libc is None:
        return
    kept_rss, kept_free = read_rss(), await asyncio.to_thread(read_free)  # what a trim left
    while True:
        await asyncio.sleep(period_s)
        rss, free = read_rss(), await asyncio.to_thread(read_free)
        freed = free is None or kept_free is None or free > kept_free + TRIM_ABOVE_BYTES
        dirtied = rss is not None and kept_rss is not None and rss > kept_rss + TRIM_ABOVE_BYTES
        if freed or dirtied:
            await asyncio.to_thread(trim)
            kept_rss, kept_free = read_rss(), await asyncio.to_thread(read_free)
            if rss is not None and kept_rss is not None:
                log.debug("trimmed the heap: RSS %.0f -> %.0f MB", rss / 2**20, kept_rss / 2**20)
            continue
        # memory that went back by itself, or free fragments reused: the new references
        if rss is not None and kept_rss is not None:
            kept_rss = min(kept_rss, rss)
        if free is not None and kept_free is not None:
            kept_free = min(kept_free, free)

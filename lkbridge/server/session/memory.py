"""Give freed heap back to the OS: after a session closes, and after any burst.

The SDK's native side frees a room's buffers into glibc's arenas, which keep them; so does grpc
core after a burst of connections or calls (issue 23: 20,000 streams or connections left
100-450 MB that never came back). RSS then stays high after the load has gone, which looks like
a leak to anyone watching and counts against a pod's memory limit. glibc's malloc_trim returns
those pages; `trim_after_bursts` calls it whenever the allocator's free heap grew by a few MB.
Elsewhere (musl, macOS) all of this is a no-op.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

TRIM_PERIOD_S = 5.0
TRIM_ABOVE_BYTES = 8 * 1024 * 1024  # free heap kept before a trim is worth its arena locks


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


async def trim_after_bursts(period_s: float = TRIM_PERIOD_S) -> None:
    """Every `period_s`, return the free heap to the OS when it grew by TRIM_ABOVE_BYTES since
    the last trim (or unconditionally where the free figure is unknown). What a trim leaves
    free is fragments no whole page of which is free: trimming again would return nothing.
    In a thread: trimming a heap that a burst grew to hundreds of MB takes tens of ms, which
    the event loop must not wait for."""
    if _libc is None:
        return
    kept = 0  # free bytes the last trim could not return
    while True:
        await asyncio.sleep(period_s)
        # mallinfo2 walks every free chunk under the arenas' locks: off the loop, as the trim
        free = await asyncio.to_thread(free_heap_bytes)
        if free is None or free > kept + TRIM_ABOVE_BYTES:
            await asyncio.to_thread(release_free_memory)
            after = await asyncio.to_thread(free_heap_bytes)
            kept = after or 0
            if free is not None:
                log.debug("trimmed %.0f MB of free heap (%.0f MB left)", free / 2**20, kept / 2**20)
        elif free < kept:
            kept = free  # the fragments were reused

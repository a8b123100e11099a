"""Give freed heap back to the OS after a session closes.

The SDK's native side frees a room's buffers into glibc's arenas, which keep them: RSS then
stays high after every session has left, which looks like a leak to anyone watching. glibc's
malloc_trim returns those pages. Elsewhere (musl, macOS) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_libc: ctypes.CDLL | None = None
try:
    _name = ctypes.util.find_library("c")
    if _name:
        _candidate = ctypes.CDLL(_name)
        if hasattr(_candidate, "malloc_trim"):
            _libc = _candidate
except OSError:  # pragma: no cover - no libc to load
    _libc = None


def release_free_memory() -> bool:
    """True when the allocator returned memory to the OS."""
    if _libc is None:
        return False
    return bool(_libc.malloc_trim(0))

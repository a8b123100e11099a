"""The stamp the load test's devices put at the start of every packet's PCM.

The layout is bench/sessions.py's (and bench/godevices'): sample 0 the packet's sequence number
(16 bits, wrapping), samples 1-4 the send time in Unix ns, 16 bits each, little-endian. The
sequence tells a hole (a packet that never arrived) from a late sender; the time gives the
device -> SFU -> bridge -> client latency on one clock. Pure `struct`, so locust's gevent
processes never load the LiveKit SDK for it.
"""

from __future__ import annotations

import struct

STAMP_BYTES = 10
SEQ_MODULO = 1 << 16
_LAYOUT = struct.Struct("<H4H")


def stamp(pcm: bytes, seq: int, sent_ns: int) -> bytes:
    """`pcm` with its first five samples replaced by the stamp."""
    words = ((sent_ns >> (16 * w)) & 0xFFFF for w in range(4))
    return _LAYOUT.pack(seq % SEQ_MODULO, *words) + pcm[STAMP_BYTES:]


def read_stamp(pcm: bytes) -> tuple[int, int] | None:
    """(sequence, send time ns), or None for a packet too short to carry one."""
    if len(pcm) < STAMP_BYTES:
        return None
    seq, *words = _LAYOUT.unpack_from(pcm)
    return seq, sum(word << (16 * w) for w, word in enumerate(words))


def missing_between(previous: int, current: int) -> int:
    """How many packets were lost between two received sequence numbers (with wrap-around);
    0 for consecutive ones. A repeat or a step back (a device restarted) counts as none."""
    step = (current - previous) % SEQ_MODULO
    return step - 1 if 0 < step < SEQ_MODULO // 2 else 0

"""The stamp a lab device puts at the start of every packet's PCM: the one codec of the lab.

Sample 0 is the packet's sequence number (16 bits, wrapping), samples 1-4 the send time in Unix
ns, 16 bits each, little-endian. The sequence tells a hole (a packet that never arrived) from a
late sender; the time gives the device -> SFU -> bridge -> client latency on one clock. The load
test's devices, bench/sessions.py's devices and bench/packet_trace.py's key all use this module;
bench/godevices (Go) writes the same layout from its own constants, which
tests/unit/test_stamp.py checks against these. Pure `struct`, so locust's gevent processes never
load the LiveKit SDK for it.
"""

from __future__ import annotations

import struct

SEQ_OFFSET = 0  # byte offset of the sequence number in the PCM
TIME_OFFSET = 2  # byte offset of the send time's first 16-bit word
TIME_WORDS = 4  # the send time's 16-bit words, least significant first
STAMP_BYTES = TIME_OFFSET + 2 * TIME_WORDS
SEQ_MODULO = 1 << 16
_LAYOUT = struct.Struct(f"<H{TIME_WORDS}H")


def stamp(pcm: bytes, seq: int, sent_ns: int) -> bytes:
    """`pcm` with its first five samples replaced by the stamp."""
    words = ((sent_ns >> (16 * w)) & 0xFFFF for w in range(TIME_WORDS))
    return _LAYOUT.pack(seq % SEQ_MODULO, *words) + pcm[STAMP_BYTES:]


def read_stamp(pcm: bytes) -> tuple[int, int] | None:
    """(sequence, send time ns), or None for a packet too short to carry one."""
    if len(pcm) < STAMP_BYTES:
        return None
    seq, *words = _LAYOUT.unpack_from(pcm)
    return seq, sum(word << (16 * w) for w, word in enumerate(words))


def sent_ns(pcm: bytes) -> int | None:
    """The send time alone: a packet's key in bench/packet_trace.py (None: too short)."""
    if len(pcm) < STAMP_BYTES:
        return None
    return int.from_bytes(pcm[TIME_OFFSET:STAMP_BYTES], "little")


def missing_between(previous: int, current: int) -> int:
    """How many packets were lost between two received sequence numbers (with wrap-around);
    0 for consecutive ones. A repeat or a step back (a device restarted) counts as none."""
    step = (current - previous) % SEQ_MODULO
    return step - 1 if 0 < step < SEQ_MODULO // 2 else 0

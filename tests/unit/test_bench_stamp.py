"""The send-time stamp bench/sessions.py and bench/godevices put in device packets."""

from __future__ import annotations

import struct
import time

import numpy as np

from bench.sessions import sent_ns, stamp
from lkbridge.audio.pcm import to_bytes


def test_a_stamp_reads_back_as_its_send_time() -> None:
    chunk = np.zeros(1600, dtype=np.int16)
    before = time.time_ns()
    stamp(chunk, 40000)  # past int16: the sequence wraps, the stamp must not
    after = time.time_ns()
    assert before <= sent_ns(to_bytes(chunk)) <= after
    assert chunk[5:].tolist() == [0] * 1595  # the rest of the audio is left alone


def test_the_go_devices_layout_reads_back() -> None:
    """godevices writes sample 0 = sequence, then the Unix ns time as 4 little-endian words."""
    sent = 1_795_000_000_123_456_789
    pcm = struct.pack("<h4H", 7, *((sent >> (16 * w)) & 0xFFFF for w in range(4))) + bytes(20)
    assert sent_ns(pcm) == sent

"""LatencyRecorder: the last `size` latencies, in as little memory as their values need.

The process's four recorders (HealthCheck's latency_* figures) were the one thing of ours that
bench/leftovers.py found growing in tracemalloc after every session left: a deque of Python
floats, 32-40 bytes a sample, about 1.2 MB once full. Kept as C doubles it is 8 a sample.
"""

from __future__ import annotations

import tracemalloc

from lkbridge.server.grpc.stats import LatencyRecorder


def test_it_keeps_the_last_size_samples() -> None:
    recorder = LatencyRecorder(size=4)
    for ms in (100, 200, 300, 400, 1, 2):  # 100 and 200 fall out
        recorder.record(ms / 1000)
    assert len(recorder) == 4
    assert recorder.percentile(100) == 400.0
    assert recorder.percentile(0) == 1.0
    assert recorder.percentile(50) == 300.0  # 1, 2, 300, 400 by rank


def test_an_empty_recorder_reads_zero() -> None:
    assert LatencyRecorder().percentile(99) == 0.0
    assert len(LatencyRecorder()) == 0


def traced_bytes_per_sample(size: int, records: int) -> float:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        recorder = LatencyRecorder(size=size)
        for i in range(records):
            recorder.record(i * 1e-6 + 0.001)  # distinct floats: no shared constants
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(recorder) == min(size, records)
    return (after - before) / min(size, records)


def test_a_full_recorder_holds_its_samples_as_c_doubles() -> None:
    # once full (8192: about 80 s of 10 sessions' chunks), a sample costs 8 bytes plus the
    # array's slack, not a float object and a deque slot (32-40 bytes)
    assert traced_bytes_per_sample(8192, 3 * 8192) < 10


def test_a_recorder_allocates_as_it_fills_not_up_front() -> None:
    # bench/capture_trace.py makes recorders of 10**6: a few samples must not cost 8 MB
    recorder = LatencyRecorder(size=10**6)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100):
            recorder.record(i / 1000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100 * 64

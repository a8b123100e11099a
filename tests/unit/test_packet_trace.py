"""bench/packet_trace.py: the parts of device -> client add up, whatever stages were stamped."""

from __future__ import annotations

from bench import packet_trace
from bench.packet_trace import BRIDGE_PART, split_parts
from lkbridge.devstack.stamp import stamp

WHOLE = "device send -> client receive() returned (the whole path)"


def test_a_packet_is_keyed_by_its_stamps_send_time() -> None:
    sent = 1_795_000_000_123_456_789
    packet_trace.stamp("write", stamp(bytes(320), 7, sent))
    packet_trace.stamp("write", b"short")  # no stamp: not kept
    assert [key for key, _ in packet_trace.stamps()["write"]] == [sent]


def trace(packets: dict[int, list[int]], stages: tuple[str, ...]) -> dict[str, list[list[int]]]:
    return {stage: [[k, t[i]] for k, t in packets.items()] for i, stage in enumerate(stages)}


def test_the_parts_add_up_to_the_whole_path() -> None:
    ms = 1_000_000
    sent = [10**18 + i * 100 * ms for i in range(5)]
    # ffi, handler, write, written: 4, 1, 0.25, 1 ms after each other, + i ms
    packets = {k: [k + (4 + i) * ms, k + (5 + i) * ms, k + int(5.25 * ms) + i * ms,
                   k + int(6.25 * ms) + i * ms]
               for i, k in enumerate(sent)}  # fmt: skip
    received = [(k, packets[k][-1] + 2 * ms) for k in sent]
    stages = ("ffi", "handler", "write", "written")
    parts = split_parts(trace(packets, stages), received)
    means = [f["mean"] for name, f in parts.items() if name not in (WHOLE, BRIDGE_PART)]
    assert len(means) == 5
    assert abs(sum(means) - parts[WHOLE]["mean"]) < 0.01
    assert parts[BRIDGE_PART]["p50"] == 2.25  # ffi -> written: 1 + 0.25 + 1
    assert parts[WHOLE]["packets"] == 5
    assert parts["gRPC write returned -> client receive() returned"]["p50"] == 2.0


def test_a_stage_nobody_stamped_merges_into_the_next_part() -> None:
    """A room whose packets could not be routed past the SDK's room task leaves `ffi` empty."""
    ms = 1_000_000
    sent = 10**18
    packets = {sent: [sent + 5 * ms, sent + 6 * ms, sent + 7 * ms]}
    stamped = trace(packets, ("handler", "write", "written"))
    parts = split_parts(stamped, [(sent, sent + 8 * ms)])
    unrouted = "device send -> bridge handler (via the SDK's room task: no FFI stamp)"
    assert parts[unrouted]["p50"] == 5.0
    assert BRIDGE_PART not in parts
    assert parts[WHOLE]["p50"] == 8.0


def test_packets_missing_a_stamp_are_left_out() -> None:
    """A packet the client never received (or the bridge dropped) is in no part."""
    ms = 1_000_000
    first, second = 10**18, 10**18 + 100 * ms
    packets = {k: [k + ms, k + 2 * ms, k + 3 * ms, k + 4 * ms] for k in (first, second)}
    stamped = trace(packets, ("ffi", "handler", "write", "written"))
    parts = split_parts(stamped, [(first, first + 6 * ms)])
    assert parts[WHOLE]["packets"] == 1

"""UnannouncedPackets: held in order, bounded in bytes, released to the target or discarded."""

from __future__ import annotations

from lkbridge.server.room_to_client.unannounced import UnannouncedPackets


def test_release_gives_the_packets_oldest_first_and_empties() -> None:
    held = UnannouncedPackets(max_bytes=100, max_age_s=60)
    for packet in (b"a1", b"b2", b"c3"):
        held.hold(packet)
    assert held.release() == [b"a1", b"b2", b"c3"]
    assert len(held) == 0 and held.release() == []


def test_the_byte_budget_drops_the_oldest() -> None:
    held = UnannouncedPackets(max_bytes=10, max_age_s=60)
    for i in range(5):
        held.hold(bytes([i]) * 4)
    assert held.release() == [bytes([3]) * 4, bytes([4]) * 4]
    assert held.dropped == 3


def test_discard_counts_what_it_drops() -> None:
    held = UnannouncedPackets(max_bytes=100, max_age_s=60)
    held.hold(b"xx")
    held.hold(b"yy")
    held.discard()
    assert held.dropped == 2 and len(held) == 0


def test_packets_older_than_the_age_bound_go() -> None:
    held = UnannouncedPackets(max_bytes=100, max_age_s=-1)  # every packet is already too old
    held.hold(b"old")
    assert len(held) == 0 and held.dropped == 1

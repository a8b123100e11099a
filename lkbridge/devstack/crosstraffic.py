"""Jitter without netem: cross traffic through a slow link, the way it happens in the field.

This kernel has no `sch_netem`, so no qdisc can delay a packet by a set amount. What does
jitter on a real phone's link is other traffic: a bottleneck (a cell, a home uplink) that media
packets share with bursts of someone else's bytes, and each media packet waits behind whatever
burst is draining when it arrives. So the field link is shaped with `htb` at a rate R
(impair.py's `set_rate`, both ends of the veth, so both directions), and this process sends
random bursts of filler UDP through it, field -> parent and parent -> field, to sockets of its
own on the other side. A burst of B bytes delays what queues behind it by up to B / R:
R = 2 Mbit/s and bursts of 0..7.5 KB give 0..30 ms; at gaps averaging 30 ms (half the link
busy) probes measured p95 29-32 ms above the minimum and RFC 3550 jitter 6.6-6.8 ms.

It also measures what it made: stamped probe packets every 20 ms each way through the same
queue; their one-way delays (one clock: the two namespaces share the machine's) give the
RFC 3550 interarrival jitter and the delay above the path's minimum, printed as JSON at the end.

    python -m lkbridge.devstack.crosstraffic --field lkbf3 --field-ip 10.78.0.14 \
        --parent-ip 10.78.0.13 --rate-kbit 2000 --max-delay-ms 30

It prints `ready` once its sockets are bound and sending, runs until its stdin closes (or
`--max-seconds`), then prints one JSON line of both directions' figures. Addresses are the field
pair's own (10.78.0.x inside our namespaces); nothing else is dialled.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

from lkbridge.devstack.impair import enter_netns
from lkbridge.percentiles import percentile

IP_UDP_HEADER = 28  # bytes the link carries on top of a UDP payload
PROBE = struct.Struct("!cIq")  # b"P", sequence, send time (ns, CLOCK_MONOTONIC)
PROBE_EVERY_S = 0.02  # like an Opus frame


@dataclass(frozen=True)
class CrossProfile:
    """Bursts of 0..(`max_delay_ms` at `rate_kbit`) bytes at exponential gaps of `mean_gap_ms`."""

    rate_kbit: int = 2000
    max_delay_ms: float = 30.0
    mean_gap_ms: float = 30.0  # half the link busy: p95 delay ~30 ms, RFC 3550 jitter ~7 ms
    packet_bytes: int = 1250  # on the link, headers included

    @property
    def max_burst_bytes(self) -> int:
        """The burst that takes `max_delay_ms` to drain at the link's rate."""
        return int(self.rate_kbit * 1000 / 8 * self.max_delay_ms / 1000)

    @property
    def load(self) -> float:
        """The share of the link the filler takes on average (bursts average half the max)."""
        mean_bytes = self.max_burst_bytes / 2
        return mean_bytes * 8 / (self.mean_gap_ms / 1000) / (self.rate_kbit * 1000)


def burst_schedule(profile: CrossProfile, rng: random.Random) -> Iterator[tuple[float, int]]:
    """Endless (gap before the burst in s, burst size in link bytes) pairs."""
    while True:
        gap = rng.expovariate(1000 / profile.mean_gap_ms)
        yield gap, int(rng.uniform(0, profile.max_burst_bytes))


def burst_payloads(burst_bytes: int, packet_bytes: int) -> list[int]:
    """UDP payload sizes whose packets (headers included) add up to `burst_bytes` on the link:
    full packets and one remainder; a remainder too small to carry a header is left out."""
    sizes = [packet_bytes - IP_UDP_HEADER] * (burst_bytes // packet_bytes)
    rest = burst_bytes % packet_bytes
    if rest > IP_UDP_HEADER:
        sizes.append(rest - IP_UDP_HEADER)
    return sizes


@dataclass(frozen=True)
class JitterStats:
    """What the probes of one direction saw (ms)."""

    probes: int
    rfc3550_ms: float  # interarrival jitter, RFC 3550 6.4.1 (what an RTP receiver reports)
    p50_ms: float  # one-way delay above the smallest seen
    p95_ms: float
    p99_ms: float
    max_ms: float


def jitter_stats(transits_ns: Sequence[int]) -> JitterStats:
    """Figures of one-way transit times (receive - send, ns) in the order they arrived.

    RFC 3550's estimator: J += (|D| - J) / 16, D the difference between consecutive transits;
    the delays are reported above the minimum transit, so a constant offset drops out.
    """
    if not transits_ns:
        return JitterStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    jitter = 0.0
    for before, after in itertools.pairwise(transits_ns):
        jitter += (abs(after - before) / 1e6 - jitter) / 16
    floor = min(transits_ns)
    above = [(t - floor) / 1e6 for t in transits_ns]
    return JitterStats(
        probes=len(transits_ns),
        rfc3550_ms=round(jitter, 2),
        p50_ms=round(percentile(above, 50), 2),
        p95_ms=round(percentile(above, 95), 2),
        p99_ms=round(percentile(above, 99), 2),
        max_ms=round(max(above), 2),
    )


# -- the process -------------------------------------------------------------------------------


class _Direction:
    """Filler bursts and probes from one socket to another, and the probes' transits."""

    def __init__(
        self, name: str, out: socket.socket, into: socket.socket, profile: CrossProfile, seed: int
    ) -> None:
        self.name = name
        self._out, self._into = out, into
        self._to = into.getsockname()
        self._profile = profile
        self._rng = random.Random(seed)
        self.transits: list[int] = []
        self.filler_bytes = 0

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._bursts, args=(stop,), daemon=True),
            threading.Thread(target=self._probes, args=(stop,), daemon=True),
            threading.Thread(target=self._receive, args=(stop,), daemon=True),
        ]
        for thread in threads:
            thread.start()
        return threads

    def _bursts(self, stop: threading.Event) -> None:
        for gap, size in burst_schedule(self._profile, self._rng):
            if stop.wait(gap):
                return
            for payload in burst_payloads(size, self._profile.packet_bytes):
                if self._send(b"F" * payload):
                    self.filler_bytes += payload + IP_UDP_HEADER

    def _send(self, data: bytes) -> bool:
        """False when the field's loss rule took the packet (nftables' drop on output: EPERM)."""
        try:
            self._out.sendto(data, self._to)
        except PermissionError:
            return False
        return True

    def _probes(self, stop: threading.Event) -> None:
        seq = 0
        start = time.monotonic()
        while not stop.is_set():
            self._send(PROBE.pack(b"P", seq, time.monotonic_ns()))
            seq += 1
            stop.wait(max(0.0, start + seq * PROBE_EVERY_S - time.monotonic()))

    def _receive(self, stop: threading.Event) -> None:
        self._into.settimeout(0.2)
        while not stop.is_set():
            try:
                data = self._into.recv(2048)
            except TimeoutError:
                continue
            if data[:1] == b"P" and len(data) == PROBE.size:
                self.transits.append(time.monotonic_ns() - PROBE.unpack(data)[2])

    def report(self) -> dict[str, object]:
        return {"direction": self.name, "filler_bytes": self.filler_bytes,
                **asdict(jitter_stats(self.transits))}  # fmt: skip


def _socket_in(netns: str | None, ip: str, back_to: str) -> socket.socket:
    """A UDP socket bound in `netns` (None: this one); the thread returns to `back_to` after."""
    if netns is not None:
        enter_netns(netns)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((ip, 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        return sock
    finally:
        if netns is not None:
            enter_netns(back_to)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--field", required=True, help="the field namespace's name")
    parser.add_argument("--parent", default="lkb", help="the namespace this process runs in")
    parser.add_argument("--field-ip", required=True)
    parser.add_argument("--parent-ip", required=True)
    parser.add_argument("--rate-kbit", type=int, default=CrossProfile.rate_kbit)
    parser.add_argument("--max-delay-ms", type=float, default=CrossProfile.max_delay_ms)
    parser.add_argument("--mean-gap-ms", type=float, default=CrossProfile.mean_gap_ms)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args(argv)
    for ip in (args.field_ip, args.parent_ip):
        if not (ip.startswith("10.78.0.") or ip.startswith("127.")):
            parser.error(f"{ip}: only the field pair's own addresses (10.78.0.x)")
    profile = CrossProfile(args.rate_kbit, args.max_delay_ms, args.mean_gap_ms)
    field_sock = _socket_in(args.field, args.field_ip, args.parent)
    parent_sock = _socket_in(None, args.parent_ip, args.parent)
    directions = [
        _Direction("field->parent", field_sock, parent_sock, profile, args.seed),
        _Direction("parent->field", parent_sock, field_sock, profile, args.seed + 1),
    ]
    stop = threading.Event()
    threads = [t for d in directions for t in d.start(stop)]
    print("ready", flush=True)
    waiter = threading.Thread(target=sys.stdin.read, daemon=True)
    waiter.start()
    waiter.join(timeout=args.max_seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=2)
    print(json.dumps([d.report() for d in directions]), flush=True)


if __name__ == "__main__":
    main()

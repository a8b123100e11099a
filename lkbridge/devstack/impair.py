"""A second network namespace behind a lossy link: the field, for quality benchmarks and tests.

The kernel here has no `sch_netem` (`tc qdisc add ... netem` answers "Specified qdisc kind is
unknown"), so loss is nftables in the field namespace: every UDP packet in or out is dropped
with the set probability (`numgen random`), so both directions of the media are lossy while
signalling (TCP) is not. A burst profile switches a drop-everything rule on for short outages
at random times. Jitter needs a delay queue, which nftables has not: instead `set_rate` shapes
the link with htb (which this kernel has) and lkbridge/devstack/crosstraffic.py queues bursts of
filler ahead of the media, which is how jitter happens on a real bottleneck.

The namespace is joined to the project's (`lkb`) by a veth pair on a /30 of its own; the SFU's
address there (10.77.0.1) is reached through it, so a process in the field speaks to the SFU as
a phone on a bad network would. Everything stays inside namespaces this process made.

    field = FieldNet.create(); field.set_loss(5.0); ...; field.delete()
"""

from __future__ import annotations

import ctypes
import os
import random
import subprocess
import threading
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
TABLE = "lkbfield"


@dataclass(frozen=True)
class BurstProfile:
    """Outages of `min_ms`-`max_ms` starting at exponential gaps averaging `mean_gap_s`."""

    min_ms: int = 80
    max_ms: int = 200
    mean_gap_s: float = 2.5

    @property
    def loss_percent(self) -> float:
        """The share of time in an outage, about the loss it causes."""
        outage = (self.min_ms + self.max_ms) / 2000
        return round(100 * outage / (outage + self.mean_gap_s), 1)


class FieldNet:
    """One field namespace, its veth into `lkb` and its drop rules; `delete()` removes all."""

    def __init__(self, index: int, parent: str = "lkb") -> None:
        self.index = index
        self.parent = parent
        self.name = f"lkbf{index}"
        self.outer_if, self.inner_if = f"lkbf{index}a", f"lkbf{index}b"
        base = 4 * (index % 60)  # one /30 per field in 10.78.0.0/24
        self.outer_ip, self.ip = f"10.78.0.{base + 1}", f"10.78.0.{base + 2}"
        self.loss_percent = 0.0
        self._burst_stop: threading.Event | None = None
        self._burst_thread: threading.Thread | None = None

    @classmethod
    def create(cls, index: int | None = None, parent: str = "lkb") -> FieldNet:
        """Make the namespace (root only); `index` defaults to the first free one from this
        process's id on, so a test and a benchmark running at once get fields of their own."""
        if index is None:
            start = os.getpid() % 60
            free = (i % 60 for i in range(start, start + 60) if not cls(i % 60, parent)._exists())
            index = next(free, start)
        field = cls(index, parent)
        field._build()
        return field

    def _exists(self) -> bool:
        return os.path.exists(f"/run/netns/{self.name}")

    def _build(self) -> None:
        self.delete()
        _run("ip", "netns", "add", self.name)
        _run("ip", "-n", self.name, "link", "set", "lo", "up")
        _run("ip", "-n", self.parent, "link", "add", self.outer_if, "type", "veth", "peer",
             "name", self.inner_if, "netns", self.name)  # fmt: skip
        _run("ip", "-n", self.parent, "addr", "add", f"{self.outer_ip}/30", "dev", self.outer_if)
        _run("ip", "-n", self.name, "addr", "add", f"{self.ip}/30", "dev", self.inner_if)
        _run("ip", "-n", self.parent, "link", "set", self.outer_if, "up")
        _run("ip", "-n", self.name, "link", "set", self.inner_if, "up")
        _run("ip", "-n", self.name, "route", "add", "default", "via", self.outer_ip)
        self._nft(
            f"add table inet {TABLE}\n"
            f"add chain inet {TABLE} loss_in {{ type filter hook input priority 0; }}\n"
            f"add chain inet {TABLE} loss_out {{ type filter hook output priority 0; }}\n"
            f"add chain inet {TABLE} burst_in {{ type filter hook input priority 1; }}\n"
            f"add chain inet {TABLE} burst_out {{ type filter hook output priority 1; }}\n"
        )

    def _nft(self, script: str) -> None:
        subprocess.run(
            ["ip", "netns", "exec", self.name, "nft", "-f", "-"],
            input=script,
            text=True,
            check=True,
            capture_output=True,
        )

    def set_loss(self, percent: float) -> None:
        """Drop this share of UDP packets each way (0 clears), independently per packet."""
        per_mille = round(percent * 10)
        script = f"flush chain inet {TABLE} loss_in\nflush chain inet {TABLE} loss_out\n"
        if per_mille > 0:
            for chain in ("loss_in", "loss_out"):
                script += (
                    f"add rule inet {TABLE} {chain} meta l4proto udp "
                    f"numgen random mod 1000 < {per_mille} drop\n"
                )
        self._nft(script)
        self.loss_percent = percent

    def set_rate(self, kbit: int | None) -> None:
        """Shape both ends of the veth (so both directions) with htb at `kbit`; None: unshaped.

        What queues behind the rate waits: the bottleneck that cross traffic makes jitter on.
        """
        for netns, dev in ((self.name, self.inner_if), (self.parent, self.outer_if)):
            subprocess.run(["tc", "-n", netns, "qdisc", "del", "dev", dev, "root"],
                           capture_output=True, check=False)  # fmt: skip
            if kbit is None:
                continue
            _run("tc", "-n", netns, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb",
                 "default", "10")  # fmt: skip
            _run("tc", "-n", netns, "class", "add", "dev", dev, "parent", "1:", "classid", "1:10",
                 "htb", "rate", f"{kbit}kbit", "ceil", f"{kbit}kbit")  # fmt: skip

    def start_bursts(self, profile: BurstProfile, seed: int = 0) -> None:
        """Outages (every UDP packet dropped) at random times until `stop_bursts()`."""
        self.stop_bursts()
        stop = threading.Event()
        rng = random.Random(seed)

        def run() -> None:
            while not stop.wait(rng.expovariate(1 / profile.mean_gap_s)):
                self._outage(True)
                stop.wait(rng.uniform(profile.min_ms, profile.max_ms) / 1000)
                self._outage(False)

        self._burst_stop = stop
        self._burst_thread = threading.Thread(target=run, name="field-bursts", daemon=True)
        self._burst_thread.start()

    def _outage(self, on: bool) -> None:
        script = f"flush chain inet {TABLE} burst_in\nflush chain inet {TABLE} burst_out\n"
        if on:
            script += (
                f"add rule inet {TABLE} burst_in meta l4proto udp drop\n"
                f"add rule inet {TABLE} burst_out meta l4proto udp drop\n"
            )
        self._nft(script)

    def stop_bursts(self) -> None:
        if self._burst_stop is not None and self._burst_thread is not None:
            self._burst_stop.set()
            self._burst_thread.join(timeout=5)
            self._outage(False)
        self._burst_stop = self._burst_thread = None

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def enter(self) -> None:
        """Move the calling process (call it first thing, before any thread) into the field."""
        enter_netns(self.name)

    def delete(self) -> None:
        if self._burst_stop is not None:
            self._burst_stop.set()
        subprocess.run(["ip", "-n", self.parent, "link", "del", self.outer_if],
                       capture_output=True, check=False)  # fmt: skip
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


def enter_netns(name: str) -> None:
    """setns(2) into /run/netns/<name> (Python 3.11 has no os.setns)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _run(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, text=True)

"""What the process may use and how much of it it used: the figures `--max-cpu` judges by."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lkbridge.errors import AtCapacity
from lkbridge.server.config import BridgeConfig
from lkbridge.server.cpu_load import CpuLoad, cpu_limit_cores
from lkbridge.server.session.registry import SessionRegistry

CORES = len(os.sched_getaffinity(0))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_v2_quota_caps_the_cores(tmp_path: Path) -> None:
    write(tmp_path / "cgroup", "0::/pod/bridge\n")
    write(tmp_path / "fs/pod/bridge/cpu.max", "50000 100000\n")
    assert cpu_limit_cores(1, tmp_path / "cgroup", tmp_path / "fs") == 0.5
    # the quota shared by a front's workers
    assert cpu_limit_cores(2, tmp_path / "cgroup", tmp_path / "fs") == 0.25


def test_without_a_quota_the_affinity_is_the_limit(tmp_path: Path) -> None:
    write(tmp_path / "cgroup", "0::/\n")
    write(tmp_path / "fs/cpu.max", "max 100000\n")
    assert cpu_limit_cores(1, tmp_path / "cgroup", tmp_path / "fs") == CORES
    # no cgroup file system at all (not Linux, or not mounted)
    assert cpu_limit_cores(1, tmp_path / "absent", tmp_path / "fs") == CORES


def test_a_v1_quota_and_a_namespaced_path(tmp_path: Path) -> None:
    # a container's own cgroup namespace: /proc/self/cgroup names a path the mount lacks, and
    # the quota sits at the controller's root
    write(tmp_path / "cgroup", "4:memory:/x\n3:cpu,cpuacct:/kubepods/pod1/abc\n")
    write(tmp_path / "fs/cpu,cpuacct/cpu.cfs_quota_us", "25000\n")
    write(tmp_path / "fs/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    assert cpu_limit_cores(1, tmp_path / "cgroup", tmp_path / "fs") == 0.25
    write(tmp_path / "fs/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
    assert cpu_limit_cores(1, tmp_path / "cgroup", tmp_path / "fs") == CORES


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.cpu = 0.0

    def advance(self, seconds: float, busy: float) -> None:
        """`seconds` pass with `busy` cores' worth of CPU used."""
        self.now += seconds
        self.cpu += seconds * busy


def load(limit: float = 2.0) -> tuple[CpuLoad, Clock]:
    clock = Clock()
    return CpuLoad(limit, clock=lambda: clock.now, read_cpu=lambda: clock.cpu), clock


def test_use_is_the_last_window_in_percent_of_the_limit() -> None:
    cpu, clock = load(limit=2.0)
    assert cpu.percent == 0.0  # nothing to compare yet
    cpu.sample()
    for _ in range(10):
        clock.advance(1.0, busy=0.5)
        cpu.sample()
    assert cpu.percent == pytest.approx(25.0)  # half a core of two
    # a burst ages out of the window: 5 s quiet after it and it is gone
    for _ in range(3):
        clock.advance(1.0, busy=2.0)
        cpu.sample()
    assert cpu.percent > 50.0
    for _ in range(5):
        clock.advance(1.0, busy=0.0)
        cpu.sample()
    assert cpu.percent == pytest.approx(0.0)


def test_a_new_user_is_refused_past_max_cpu_and_not_below_it() -> None:
    cpu, clock = load(limit=1.0)
    registry = SessionRegistry(BridgeConfig(max_cpu=80), cpu)
    cpu.sample()
    clock.advance(5.0, busy=0.79)
    cpu.sample()
    registry.admit("a")  # under the bound: nothing
    clock.advance(5.0, busy=0.9)
    cpu.sample()
    with pytest.raises(AtCapacity) as err:
        registry.admit("a")
    assert str(err.value) == (
        "bridge busy: it used 90 % of its CPU (1 core) over the last 5 s, the limit set by "
        "--max-cpu 80; the 0 sessions it holds keep theirs"
    )
    assert (registry.joins_refused, registry.max_cpu) == (1, 80)
    assert registry.cpu_busy_percent == pytest.approx(90)
    # 0 turns the bound off
    SessionRegistry(BridgeConfig(max_cpu=0), cpu).admit("a")


def test_max_cpu_is_a_percentage() -> None:
    for wrong in (-1, 101):
        with pytest.raises(ValueError, match="max cpu must be a percentage"):
            BridgeConfig(max_cpu=wrong)

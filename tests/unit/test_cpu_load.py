"""What the process may use and how much of it it used: the figures `--max-cpu` judges by."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lkbridge.errors import AtCapacity
from lkbridge.server.config import BridgeConfig
from lkbridge.server.cpu_load import CpuLoad, cpu_limit_cores
from lkbridge.server.session.registry import SessionRegistry, busy_text

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


def test_a_parents_quota_counts_and_the_tightest_wins(tmp_path: Path) -> None:
    # a pod's limit on the pod's cgroup, none on the container's own; a slice above allows more
    write(tmp_path / "cgroup", "0::/kubepods/pod1/ctr\n")
    write(tmp_path / "fs/kubepods/cpu.max", "400000 100000\n")
    write(tmp_path / "fs/kubepods/pod1/cpu.max", "150000 100000\n")
    write(tmp_path / "fs/kubepods/pod1/ctr/cpu.max", "max 100000\n")
    assert cpu_limit_cores(1, tmp_path / "cgroup", tmp_path / "fs") == min(1.5, CORES)


def test_what_the_kernel_never_writes_is_no_quota(tmp_path: Path) -> None:
    write(tmp_path / "cgroup", "\n0::/a\nnonsense\n")
    write(tmp_path / "fs/a/cpu.max", "50000 0\n")  # a zero period
    assert cpu_limit_cores(1, tmp_path / "cgroup", tmp_path / "fs") == CORES
    write(tmp_path / "fs/a/cpu.max", "50000\n")  # one field
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
    clock.advance(1.0, busy=1.0)
    cpu.sample()
    # a second after start, the second's use is spread over the whole window: one core for a
    # second (a join's start-up) is 10 % of two cores over 5 s, not 50 %
    assert cpu.percent == pytest.approx(10.0)
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
    registry = SessionRegistry(BridgeConfig(max_cpu=70), cpu)
    cpu.sample()
    clock.advance(5.0, busy=0.69)
    cpu.sample()
    registry.admit("a")  # under the bound: nothing
    clock.advance(5.0, busy=0.9)
    cpu.sample()
    with pytest.raises(AtCapacity) as err:
        registry.admit("a")
    assert str(err.value) == (
        "bridge busy: it used 90 % of its CPU (1 core) over the last 5 s, the limit set by "
        "--max-cpu 70"
    )
    assert (registry.joins_refused, registry.max_cpu) == (1, 70)
    assert registry.cpu_busy_percent == pytest.approx(90)
    # 0 turns the bound off
    SessionRegistry(BridgeConfig(max_cpu=0), cpu).admit("a")


def test_the_refusal_counts_cores_and_sessions_in_words() -> None:
    cpu, clock = load(limit=127.996)
    cpu.sample()
    clock.advance(5.0, busy=100.0)
    cpu.sample()
    assert busy_text(cpu, 70, 1) == (
        "bridge busy: it used 78 % of its CPU (128 cores) over the last 5 s, the limit set by "
        "--max-cpu 70; its 1 session is kept"
    )
    assert busy_text(CpuLoad(0.5), 70, 17).endswith(
        "(0.5 cores) over the last 5 s, the limit set by --max-cpu 70; its 17 sessions are kept"
    )


def test_max_cpu_is_a_percentage() -> None:
    wanted = r"max cpu must be a percentage, 0 \(off\) to 100, not"
    for wrong in (-1, 100.5, float("nan")):
        with pytest.raises(ValueError, match=wanted):
            BridgeConfig(max_cpu=wrong)
    assert str(BridgeConfig(max_cpu=-0.0).max_cpu) == "0.0"  # shown in figures: never "-0"

"""What bench/sessions.py measures of the bridge's processes: CPU by thread, py-spy stacks,
RSS, tasks, fds and the bridge's own latency figures (HealthCheck metadata)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psutil

from lkbridge.client import BridgeClient


def start_profiler(
    profile_dir: Path | None, pid: int, label: str, seconds: float
) -> subprocess.Popen[bytes] | None:
    """py-spy (pip install py-spy; not a dependency) sampling the bridge, collapsed stacks."""
    if profile_dir is None:
        return None
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
    profile_dir.mkdir(parents=True, exist_ok=True)
    out = profile_path(profile_dir, label)
    args = [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds) - 2))]
    args += ["--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"]
    args += ["--native", "--threads"] if os.environ.get("LKBRIDGE_PROFILE_NATIVE") else []
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_path(profile_dir: Path, label: str) -> Path:
    return profile_dir / f"sessions-{label.replace('/', '-')}.txt"


def profile_summary(path: Path, top: int = 25) -> str:
    """Self and inclusive share of the busiest functions in py-spy's collapsed stacks."""
    self_samples: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].split(":")[0]
                  for f in stack.split(";")]  # fmt: skip
        self_samples[frames[-1]] = self_samples.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    lines = [f"{path.name}: {total} samples (self %, inclusive %)"]
    for frame, count in sorted(self_samples.items(), key=lambda kv: -kv[1])[:top]:
        share = 100 * count / max(total, 1)
        lines.append(f"  {share:5.1f} {100 * inclusive[frame] / max(total, 1):5.1f}  {frame}")
    return "\n".join(lines)


def thread_cpu_s(procs: list[psutil.Process]) -> dict[str, float]:
    """CPU seconds so far per thread name (digits dropped: `tokio-runtime-w`, `grpc_global_tim`).

    Tells the SDK's native threads, gRPC's and the Python loop's shares apart, which a Python
    profiler alone cannot: most of the bridge's CPU has no Python frame.
    """
    tick = os.sysconf("SC_CLK_TCK")
    spent: dict[str, float] = {}
    for proc in procs:
        for task in Path(f"/proc/{proc.pid}/task").glob("*"):
            try:
                name = (task / "comm").read_text().strip().rstrip("0123456789_-#") or "?"
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended meanwhile
            spent[name] = spent.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return spent


def thread_shares(
    before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, float]:
    """Per thread name: % of one core over the window."""
    # A thread that ended in the window takes its time with it: its name may be under-counted.
    return {k: 100 * (v - before.get(k, 0.0)) / seconds for k, v in after.items()}


def format_shares(shares: dict[str, float]) -> str:
    """Busiest first, those of 0.5 % and more."""
    busiest = sorted(shares.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {share:.1f}" for name, share in busiest if share >= 0.5)


def family(proc: psutil.Process) -> list[psutil.Process]:
    """The bridge and its worker processes (`--bridge-arg=--workers=K`)."""
    return [proc, *proc.children(recursive=True)]


def outside_figures(procs: list[psutil.Process]) -> dict[str, float]:
    """What any bridge process shows from outside (the Go bridge too): RSS, threads, fds;
    tasks -1 (only ours reports them)."""
    every = [p for proc in procs for p in family(proc)]
    return {
        "rss_mb": sum(p.memory_info().rss for p in every) / 2**20,
        "tasks": -1,
        "threads": sum(p.num_threads() for p in every),
        "fds": sum(p.num_fds() for p in every),
    }


async def figures(client: BridgeClient, proc: psutil.Process) -> dict[str, float]:
    health = await client.health()
    return {
        **outside_figures([proc]),
        "tasks": int(health.metadata["tasks"]),
        **{k: float(v) for k, v in health.metadata.items() if k.startswith("latency_")},
    }


# The SDK's Opus encoder runs on libwebrtc's audio encoder task queue (/proc comm, digits dropped)
ENCODER_THREADS = frozenset({"AudioEncoderQue"})


async def shard_figures(
    clients: list[BridgeClient], procs: list[psutil.Process]
) -> dict[str, float]:
    """Figures of every bridge process added up; latency: mean p50, worst p99."""
    each = [await figures(c, p) for c, p in zip(clients, procs, strict=True)]
    total = {k: sum(f[k] for f in each) for k in ("rss_mb", "tasks", "threads", "fds")}
    for key in each[0]:
        if key.startswith("latency_"):
            values = [f[key] for f in each]
            total[key] = max(values) if "p99" in key else round(sum(values) / len(values), 2)
    return total

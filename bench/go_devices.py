"""bench/godevices (Go) as bench/sessions.py's lighter load generator, and the SDK-only floor
run it feeds (bench/sdk_floor.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from bench.packet_trace import split_parts
from bench.settings import ROOT, Settings, python_child
from bench.workload import Content, workload
from lkbridge.audio.pcm import to_bytes
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer, cache_dir
from lkbridge.devstack.tokens import mint_token


def go_devices_log() -> Path:
    """Where bench/godevices's stderr goes (pion's own chatter): read it when a run fails."""
    return cache_dir() / "godevices.log"


def build_go_devices() -> Path:
    """bench/godevices, built once into the setup's cache (its Go modules cached there too).

    The binary is named by its source's hash: checkouts (worktrees) with different sources
    share the cache without running each other's build."""
    cache = cache_dir()
    source = ROOT / "bench" / "godevices"
    digest = hashlib.sha256()
    for path in sorted(source.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    binary = cache / "bin" / f"godevices-{digest.hexdigest()[:12]}"
    if not binary.exists():
        env = {
            **os.environ,
            "GOMODCACHE": str(cache / "gomod"),
            "GOCACHE": str(cache / "gocache"),
            "GOFLAGS": "-mod=mod",
        }
        print("building bench/godevices ...", file=sys.stderr)
        built = binary.with_name(f"{binary.name}.{os.getpid()}")
        subprocess.run(["go", "build", "-o", str(built), "."], cwd=source, env=env, check=True)
        built.replace(binary)  # whole or not at all, for a checkout building the same at once
    return binary


async def start_go_devices(
    settings: Settings,
    cfg: LiveKitConfig,
    users: range,
    seconds: float,
    content: Content,
    report: Path | None = None,
) -> subprocess.Popen[str]:
    """One Go process for the devices of `users`' rooms, joined and waiting for "go".

    They send the same audio as the Python devices: the workload's device side, from a raw
    PCM file (16 kHz mono s16le) that bench/godevices reads. With `report`, they write there,
    before saying "done", how late each send was (`read_go_report`).
    """
    pcm = cache_dir() / f"godevices-{content}.pcm"
    pcm.write_bytes(to_bytes(workload(content, seconds, settings.chunk_ms).device))
    with go_devices_log().open("w") as stderr:
        proc = subprocess.Popen(
            ["nice", "-n", str(settings.load_nice), str(build_go_devices())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    tokens = [mint_token(cfg.api_key, cfg.api_secret, f"bench-{i}", "device") for i in users]
    job = {
        "url": cfg.url,
        "tokens": tokens,
        "chunk_ms": settings.chunk_ms,
        "seconds": seconds,
        "pcm": str(pcm),
        "spread": settings.spread_devices,
        "report": str(report) if report is not None else "",
    }
    await go_say(proc, json.dumps(job), expect="ready")
    return proc


async def go_say(proc: subprocess.Popen[str], line: str, expect: str | None = None) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    if expect is not None:
        await go_expect(proc, expect)


async def go_expect(proc: subprocess.Popen[str], expect: str) -> None:
    assert proc.stdout is not None
    said = (await asyncio.to_thread(proc.stdout.readline)).strip()
    if said != expect:
        raise RuntimeError(f"bench/godevices said {said!r}, not {expect!r}: see {go_devices_log()}")


def read_go_report(path: Path) -> tuple[list[float], int]:
    """What bench/godevices wrote to its report: each send's lateness in ms, publish errors."""
    found = read_json(path) or {}
    return [float(v) for v in found.get("late_ms") or []], int(found.get("publish_errors", 0))


def read_json(path: Path) -> Any:
    """A trace a bench process wrote on exit; None if it wrote none."""
    return json.loads(path.read_text()) if path.exists() else None


async def floor_run(
    settings: Settings,
    n: int,
    seconds: float,
    livekit: LiveKitServer,
    content: Content,
    out: Path,
    publish: bool,
) -> dict[str, dict[str, float]]:
    """The SDK-only floor (bench/sdk_floor.py): the Go devices of rooms 0..N-1 sending to one
    process that only receives, as the bridge does but with nothing else to do (with `publish`,
    it also publishes a track per room and speaks into it, as the bridge does)."""
    cfg = livekit.config
    args = [cfg.url, cfg.api_key, str(n), str(out)]
    argv, env = python_child("bench.sdk_floor", *args, *([content] if publish else []))
    env["LIVEKIT_API_SECRET"] = cfg.api_secret
    if settings.bridge_cpu is not None:  # --pin: the floor on the bridge's core, like for like
        argv = ["taskset", "--cpu-list", str(settings.bridge_cpu), *argv]
    receiver = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert receiver.stdin is not None and receiver.stdout is not None
    devices: subprocess.Popen[str] | None = None
    try:
        said = (await asyncio.to_thread(receiver.stdout.readline)).strip()
        if said != "ready":
            raise RuntimeError(f"bench/sdk_floor.py said {said!r}, not 'ready'")
        devices = await start_go_devices(settings, cfg, range(n), seconds, content)
        measured = psutil.Process(receiver.pid)
        measured.cpu_percent()
        await go_say(devices, "go")
        await go_expect(devices, "done")
        cpu = measured.cpu_percent()
        await go_say(devices, "leave")
        await asyncio.to_thread(devices.wait, 15)
        receiver.stdin.write("stop\n")
        receiver.stdin.flush()
        await asyncio.to_thread(receiver.wait, 30)
    finally:
        for proc in (receiver, devices):
            if proc is not None and proc.poll() is None:
                proc.kill()
    split = split_parts(read_json(out) or {})
    if split:
        split["(the receiver's CPU, % of one core)"] = {"p50": cpu, "p99": cpu, "mean": cpu}
    return split

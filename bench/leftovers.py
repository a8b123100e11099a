"""What the bridge keeps after every session left, and Python's share of a session's RSS.

    sudo .venv/bin/python -m bench.leftovers --sessions 4 --rounds 3 --duration 8

A real `lkbridge serve` runs under a probe (this module's `probe` role: asked by a file, it
writes a snapshot to a file) and a real SFU; this process plays N devices (SDK peers)
and N gRPC clients streaming both ways for --duration seconds, then every session leaves and
every device goes. After each round, and once while the first round is loaded, the probe
reports: RSS, threads by name (/proc/self/task/*/comm), fds, asyncio tasks, tracemalloc's
traced bytes (traced from the idle snapshot on) and their growth by allocation site, the
live objects of lkbridge's own classes and the SDK's FFI handles (gc). A leak grows round after
round; a one-time cost (the SDK's first room, a pool) appears after the first and stays flat.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np

from lkbridge.devstack.threads import thread_names
from lkbridge.server.session.memory import resident_bytes

PROBE_FRAMES = 8


# -- the probe, inside the bridge's process -----------------------------------------------------


def live_objects() -> dict[str, int]:
    """Live objects of lkbridge's classes and of the SDK's (livekit.rtc), by qualified name."""
    gc.collect()
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        module = getattr(kind, "__module__", None)
        if isinstance(module, str) and module.startswith(("lkbridge.", "livekit.")):
            counts[f"{module}.{kind.__qualname__}"] += 1
    return dict(counts)


def rss_mb() -> float:
    return (resident_bytes() or 0) / 2**20


def malloc_heap(scratch: Path) -> dict[str, float]:
    """glibc's view of its heap (`malloc_info`): arenas, bytes it holds from the system and of
    those, bytes free in its bins. Free bytes that stay after `malloc_trim(0)` are
    fragmentation: freed chunks on pages that still hold a live one."""
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    stream = libc.fopen(str(scratch).encode(), b"w")
    if not stream:
        return {}
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    root = ElementTree.fromstring(scratch.read_text())
    totals = {
        t.get("type"): int(t.get("size") or 0) for t in root.findall("total") if t.get("size")
    }
    held = sum(
        int(s.get("size") or 0) for s in root.findall("system") if s.get("type") == "current"
    )
    return {
        "arenas": float(len(root.findall("heap"))),
        "heap_held_mb": held / 2**20,
        "heap_free_mb": (totals.get("fast", 0) + totals.get("rest", 0)) / 2**20,
        "mmapped_mb": totals.get("mmap", 0) / 2**20,
    }


def install_probe(out_dir: Path) -> None:
    """tracemalloc starts at the first snapshot (the idle one: the bridge imported and
    listening), so the start-up is not slowed and only what came after is traced."""
    snaps: list[tracemalloc.Snapshot] = []

    def snapshot() -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(PROBE_FRAMES)
        tasks = len(asyncio.all_tasks())
        objects = live_objects()
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        growth = []
        if snaps:
            for stat in snap.compare_to(snaps[0], "traceback")[:8]:
                frames = list(stat.traceback)[-4:]  # the most recent, last
                where = " -> ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames)
                growth.append([stat.size_diff, stat.count_diff, where[:300]])
        snaps.append(snap if not snaps else snaps[0])  # only the idle one is compared with:
        del snap  # a snapshot kept a round would be traced, and grow, itself
        rss = rss_mb()
        heap = malloc_heap(out_dir / "malloc-info.xml")
        trimmed = rss - rss_mb() if ctypes.CDLL(None).malloc_trim(0) else 0.0
        report = {
            "rss_mb": rss,
            "trimmable_mb": trimmed,  # what glibc's malloc_trim(0) gave back to the system
            "tracemalloc_mb": tracemalloc.get_tracemalloc_memory() / 2**20,  # its own, in RSS
            **heap,
            "python_threads": sorted(
                t.name.rstrip("0123456789_-() ") for t in threading.enumerate()
            ),
            "traced_mb": tracemalloc.get_traced_memory()[0] / 2**20,
            "threads": dict(thread_names(drop_digits=True)),
            "fds": len(os.listdir("/proc/self/fd")),
            "tasks": tasks,
            "objects": objects,
            "growth": growth,
        }
        index = len(snaps) - 1
        part = out_dir / f"snap-{index}.json.part"
        part.write_text(json.dumps(report))
        part.replace(out_dir / f"snap-{index}.json")

    def watch() -> None:
        """A request is a file `ask-K` (a signal's Python handler would wait for uvloop to wake:
        it sleeps in C); this thread hands the snapshot to the bridge's loop, where the tasks
        can be counted."""
        while True:
            time.sleep(0.1)
            if not (out_dir / f"ask-{len(snaps)}").exists():
                continue
            loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]
            running = [loop for loop in loops if loop.is_running()]
            if running:
                running[0].call_soon_threadsafe(snapshot)
                while (out_dir / f"ask-{len(snaps)}").exists():  # until it is taken
                    time.sleep(0.1)

    threading.Thread(target=watch, name="leftovers-probe", daemon=True).start()


# -- the driver --------------------------------------------------------------------------------


async def take(pid: int, out_dir: Path, index: int) -> dict[str, Any]:
    (out_dir / f"ask-{index}").touch()
    path = out_dir / f"snap-{index}.json"
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the probe wrote no {path.name}")
        await asyncio.sleep(0.1)
    found: dict[str, Any] = json.loads(path.read_text())
    return found


async def one_round(
    target: str,
    cfg: Any,
    n: int,
    seconds: float,
    tag: str,
    loaded: Any = None,
    clip: tuple[str, int] | None = None,
) -> None:
    """N sessions streaming both ways for `seconds`, then all leave. `loaded`: awaited while
    they stream (a snapshot of the loaded bridge); `clip` (URL, K): meanwhile each session also
    plays the clip K times in turn on track 2, as the loadtest's users do."""
    from lkbridge._proto import livekit_bridge_pb2 as pb
    from lkbridge.audio.signal import tone
    from lkbridge.client import BridgeClient
    from lkbridge.devstack.device import DevicePeer
    from lkbridge.devstack.tokens import mint_token

    client = BridgeClient(target)
    devices, streams = [], []
    try:
        for i in range(n):
            room = f"leftovers-{tag}-{i}"
            device = DevicePeer(cfg.url, mint_token(cfg.api_key, cfg.api_secret, room, "device"))
            await device.connect()
            devices.append(device)
            token = mint_token(cfg.api_key, cfg.api_secret, room, f"cloud-agent:u{i}")
            joined = await client.join(
                f"u{i}", token=token, livekit_url=cfg.url, target_identity="device"
            )
            if not joined.success:
                raise RuntimeError(joined.error)
            stream = client.stream(f"u{i}")
            await stream.open()
            streams.append(stream)
        audio = tone(440, seconds)

        async def speak(stream: Any) -> None:
            start = time.monotonic()
            for k in range(int(seconds * 10)):
                await stream.send(audio[k * 1600 : (k + 1) * 1600].tobytes())
                await asyncio.sleep(max(0.0, start + (k + 1) * 0.1 - time.monotonic()))

        async def listen(stream: Any) -> None:
            while await stream.receive() is not None:
                pass

        async def play(user_id: str) -> None:
            assert clip is not None
            for _ in range(clip[1]):
                async for event in client.play(user_id, clip[0], track_id=2):
                    if event.type == pb.PlayAudioEvent.FAILED:  # counted, the churn goes on
                        print(f"PlayAudio failed: {event.error}", file=sys.stderr)

        listeners = [asyncio.create_task(listen(s)) for s in streams]
        work = [*(speak(s) for s in streams), *(d.send_packets(audio) for d in devices)]
        if clip is not None:
            work += [play(f"u{i}") for i in range(n)]
        if loaded is not None:

            async def later() -> None:
                await asyncio.sleep(seconds / 2)
                await loaded()

            work.append(later())
        await asyncio.gather(*work)
        for i, stream in enumerate(streams):
            stream.cancel()
            await client.leave(f"u{i}")
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    finally:
        for device in devices:
            await device.aclose()
        await client.aclose()


def diff(before: dict[str, int], after: dict[str, int]) -> str:
    changed = {k: after.get(k, 0) - before.get(k, 0) for k in {*before, *after}}
    return ", ".join(f"{k} {v:+d}" for k, v in sorted(changed.items(), key=lambda kv: -kv[1]) if v)


def summary(label: str, snap: dict[str, Any], base: dict[str, Any]) -> list[str]:
    return [
        f"{label}: RSS {snap['rss_mb']:.1f} MB ({snap['rss_mb'] - base['rss_mb']:+.1f}), "
        f"traced by tracemalloc {snap['traced_mb']:.2f} MB "
        f"({snap['traced_mb'] - base['traced_mb']:+.2f}), threads "
        f"{sum(snap['threads'].values())}, fds {snap['fds']}, tasks {snap['tasks']}, "
        f"malloc_trim(0) gave back {snap['trimmable_mb']:.1f} MB",
        f"  threads against idle: {diff(base['threads'], snap['threads']) or 'none'}",
        "  Python's threads against idle: "
        + (diff(Counter(base["python_threads"]), Counter(snap["python_threads"])) or "none"),
        f"  objects against idle: {diff(base['objects'], snap['objects']) or 'none'}",
        *(f"  {size / 1024:+.0f} KiB {count:+d} {where}" for size, count, where in snap["growth"]),
    ]


async def main() -> None:
    from bench.settings import python_child
    from lkbridge.devstack.bridge import start_bridge
    from lkbridge.devstack.files import FileServer
    from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
    from lkbridge.devstack.netns import reexec_inside  # noqa: F401  (imported for its side)
    from lkbridge.devstack.tonefile import make_tone_file

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--bridge-arg", action="append", default=[])
    parser.add_argument(
        "--plays",
        type=int,
        default=0,
        help="each session also plays a 1.5 s MP3 from a local HTTP server this many times a "
        "round (PlayAudio's fetch, decode and resample in the churn)",
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="many rounds: one line a round (RSS kept, glibc's heap) and RSS's growth per join",
    )
    args = parser.parse_args()
    out_dir = Path(__import__("tempfile").mkdtemp(prefix="lkb-leftovers-"))
    command, env = python_child("bench.leftovers", "probe", str(out_dir))
    clips = out_dir / "clips"
    clips.mkdir()
    make_tone_file(clips / "clip.mp3", 500, 1.5)
    with (
        LiveKitServer(LiveKitConfig()) as livekit,
        FileServer(clips, host=LiveKitConfig().bind_address) as files,
    ):
        clip = (files.url_of("clip.mp3"), args.plays) if args.plays else None
        bridge = start_bridge(
            "--port", "0", "--log-level", "warning", *args.bridge_arg, command=command, env=env
        )  # fmt: skip
        try:
            await asyncio.sleep(2.0)
            snaps = [await take(bridge.pid, out_dir, 0)]
            lines = summary("idle", snaps[0], snaps[0])
            after: list[dict[str, Any]] = []  # a snapshot after each round left
            for r in range(args.rounds):
                loaded: list[dict[str, Any]] = []

                async def snap_loaded(loaded: list[dict[str, Any]] = loaded, at: int = len(snaps)
                                      ) -> None:  # fmt: skip
                    loaded.append(await take(bridge.pid, out_dir, at))

                print(f"round {r + 1}: {args.sessions} sessions ...", file=sys.stderr)
                await one_round(
                    bridge.target, livekit.config, args.sessions, args.duration, f"{r}",
                    snap_loaded if r == 0 else None, clip,
                )  # fmt: skip
                snaps += loaded
                if loaded:
                    lines += summary(f"round 1, {args.sessions} loaded", loaded[0], snaps[0])
                await asyncio.sleep(3.0)
                snaps.append(await take(bridge.pid, out_dir, len(snaps)))
                after.append(snaps[-1])
                if args.table:
                    print(table_row(r + 1, args.sessions, snaps[-1]), file=sys.stderr)
                else:
                    lines += summary(f"after round {r + 1} left", snaps[-1], snaps[0])
        finally:
            bridge.stop()
    if args.table:
        lines = [TABLE_HEAD, *(table_row(i + 1, args.sessions, s) for i, s in enumerate(after))]
        lines.append(growth_per_join(after, args.sessions))
    print("\n".join(lines))


TABLE_HEAD = (
    "| round | joins | RSS MB | kept after malloc_trim MB | glibc holds MB | of it free MB "
    "| arenas | Python traced MB | threads | fds |\n|---|---|---|---|---|---|---|---|---|---|"
)


def kept_mb(snap: dict[str, Any]) -> float:
    """RSS after malloc_trim(0), without tracemalloc's own memory: what the process keeps."""
    return float(snap["rss_mb"] - snap["trimmable_mb"] - snap.get("tracemalloc_mb", 0.0))


def table_row(index: int, sessions: int, snap: dict[str, Any]) -> str:
    return (
        f"| {index} | {index * sessions} | {snap['rss_mb']:.1f} | {kept_mb(snap):.1f} "
        f"| {snap.get('heap_held_mb', 0):.1f} | {snap.get('heap_free_mb', 0):.1f} "
        f"| {snap.get('arenas', 0):.0f} | {snap['traced_mb']:.2f} "
        f"| {sum(snap['threads'].values())} | {snap['fds']} |"
    )


def growth_per_join(after: list[dict[str, Any]], sessions: int) -> str:
    """Least squares over the rounds after the third (the first ones hold one-time costs)."""
    points = [(i * sessions, kept_mb(s), s["traced_mb"]) for i, s in enumerate(after, 1)][3:]
    if len(points) < 3:
        return "growth per join: too few rounds (needs more than 5)"
    joins = [p[0] for p in points]
    kept = float(np.polyfit(joins, [p[1] for p in points], 1)[0])
    traced = float(np.polyfit(joins, [p[2] for p in points], 1)[0])
    return (
        f"growth per join, rounds 4-{len(after)}: RSS kept {kept * 1024:+.1f} KiB, "
        f"Python's traced {traced * 1024:+.2f} KiB"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        install_probe(Path(sys.argv[2]))
        sys.argv = ["lkbridge", *sys.argv[3:]]
        from lkbridge.cli.main import main as bridge_main

        bridge_main()
    else:
        from lkbridge.devstack import netns

        netns.reexec_inside()
        asyncio.run(main())

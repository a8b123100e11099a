"""N bridge sessions streaming real-time audio both ways through the real SFU.

For each N (and each --publish-bitrate and --variant) it starts a fresh `lkbridge serve`
process, joins N sessions, each with a device peer sending 100 ms data packets and a gRPC client
streaming 100 ms chunks onto the speaker track and reading the room audio, for --duration
seconds. What they say
is --content (bench/workload.py): speech in turns (the default), tones, or silence. It prints,
per run: bridge RSS and tasks per session, threads, CPU % (by thread too), the bridge-added
latency each way (p50/p99, measured inside the bridge), the end-to-end latency device -> SFU ->
bridge -> gRPC client, the one-way latency gRPC client -> bridge -> SFU -> device (a client
turn's first loud frame sent -> heard), how the first device heard the client's audio (envelope
correlation, loud seconds, kbit/s), and what is left after all leave.

    sudo .venv/bin/python -m bench.sessions --sessions 1 10 20 --duration 60
    sudo .venv/bin/python -m bench.sessions --sessions 10 --publish-bitrate 0 64000 72000 96000
    sudo .venv/bin/python -m bench.sessions --sessions 10 --repeat 2 \
        --variant= --variant=--catch-up-ms=20

Run from the checkout's root (bench/ is not an installed package: `-m` finds it there). Run as
root it enters the project's network namespace by itself. Not a test: it prints figures. Its
flags become one Settings object (bench/settings.py); the bridge starts through the lab's
launcher (lkbridge/devstack/bridge.py), the devices stamp with lkbridge/devstack/stamp.py.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench.capacity import capacity_table, overrun
from bench.figures import (
    ENCODER_THREADS,
    family,
    format_shares,
    outside_figures,
    profile_path,
    profile_summary,
    shard_figures,
    start_profiler,
    thread_cpu_s,
    thread_shares,
)
from bench.go_devices import (
    floor_run,
    go_expect,
    go_say,
    read_go_report,
    read_json,
    start_go_devices,
)
from bench.gobridge import check_binary, go_client, open_stream, start_go_bridge, stop_child
from bench.packet_trace import format_split, split_parts
from bench.report import Result, print_table, result_label, run_label
from bench.settings import Settings, pin_bridge_core, python_child
from bench.workload import (
    CONTENTS,
    Content,
    SpeechMatch,
    Workload,
    inbound_audio,
    onset_latencies,
    speech_match,
    workload,
)
from lkbridge.audio.pcm import to_bytes
from lkbridge.client import AudioStreamCall, BridgeClient
from lkbridge.devstack import netns
from lkbridge.devstack.bridge import SERVE, BridgeProcess
from lkbridge.devstack.bridge import start_bridge as launch_bridge
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.stamp import sent_ns, stamp
from lkbridge.devstack.tokens import mint_token
from lkbridge.percentiles import percentile
from lkbridge.server.rtc.runtime import set_sdk_logs

HELD_S = 2.0  # the bridge's first-audio wait: client onsets before it are no latency probes
DEFAULTS = Settings()  # bench/playback.py's and bench/playout_latency.py's bridges


def start_bridge(
    settings: Settings = DEFAULTS,
    extra: tuple[str, ...] = (),
    trace: Path | None = None,
    packets: Path | None = None,
    source: Path | None = None,
) -> BridgeProcess:
    """`lkbridge serve` through the lab's launcher, traced by bench/capture_trace.py or
    bench/packet_trace.py (or both), from `source`'s lkbridge package instead of the installed
    one (--bridge-src)."""
    command: list[str] = list(SERVE)
    env = None
    if packets is not None:
        tracer = [str(packets), *([str(trace)] if trace is not None else [])]
        command, env = python_child("bench.packet_trace", *tracer, source=source)
    elif trace is not None:
        command, env = python_child("bench.capture_trace", str(trace), source=source)
    elif source is not None:
        command, env = python_child("lkbridge", source=source)
    cpu = settings.bridge_cpu
    pin = ["taskset", "--cpu-list", str(cpu)] if cpu is not None else []
    return launch_bridge(
        "--port", "0", "--log-level", "warning", *settings.bridge_args, *extra,
        command=command, prefix=pin, env=env,
    )  # fmt: skip


def client_for(settings: Settings, target: str) -> BridgeClient:
    """A gRPC client of the run's bridge (the Go bridge's takes no keepalive pings)."""
    return go_client(target) if settings.go_bridge is not None else BridgeClient(target)


class Bridges:
    """The bridge processes of one run: ours (`shards` of them, over TCP) or the Go bridge
    (one, on a Unix socket); stopped together."""

    def __init__(self) -> None:
        self.ours: list[BridgeProcess] = []
        self.go: subprocess.Popen[str] | None = None
        self.sock_dir: Path | None = None
        self.targets: list[str] = []
        self.pids: list[int] = []

    def start_go(self, settings: Settings, cfg: LiveKitConfig) -> None:
        assert settings.go_bridge is not None
        self.sock_dir = Path(tempfile.mkdtemp(prefix="lkb-gobridge-"))
        sock = self.sock_dir / "bridge.sock"
        cpu = settings.bridge_cpu
        pin = ["taskset", "--cpu-list", str(cpu)] if cpu is not None else []
        self.go = start_go_bridge(settings.go_bridge, sock, cfg, pin)
        self.targets, self.pids = [f"unix:{sock}"], [self.go.pid]

    def add(self, bridge: BridgeProcess) -> None:
        self.ours.append(bridge)
        self.targets.append(bridge.target)
        self.pids.append(bridge.pid)

    def stop(self) -> None:
        for bridge in self.ours:
            bridge.stop()
        if self.go is not None:
            stop_child(self.go)
        if self.sock_dir is not None:
            shutil.rmtree(self.sock_dir, ignore_errors=True)


async def bridge_figures(
    settings: Settings, clients: list[BridgeClient], procs: list[psutil.Process]
) -> dict[str, float]:
    """Ours: its HealthCheck figures too; the Go bridge: what shows from outside."""
    if settings.go_bridge is not None:
        return outside_figures(procs)
    return await shard_figures(clients, procs)


class SessionLoad:
    """One user's traffic: device packets in, client chunks out, latency probes."""

    def __init__(
        self,
        index: int,
        device: DevicePeer | None,
        stream: AudioStreamCall,
        audio: Workload,
        chunk_ms: int,
    ) -> None:
        self.index = index
        self.chunk_ms = chunk_ms
        self.chunk = 16 * chunk_ms  # samples at 16 kHz
        self.device = device  # None: the room's device is one of bench/godevices's
        self.stream = stream
        self.audio = audio
        self.e2e_ms: list[float] = []
        self.arrivals: list[tuple[int, int]] = []  # (send stamp, receive() returned), Unix ns
        self.received = 0
        self.chunk_sent_at: list[float] = []  # monotonic time each client chunk went out
        # the generator's own lateness, ms: each device packet against its schedule, and the
        # loop's lag waking the client sender
        self.late_ms: list[float] = []

    async def device_sender(self, seconds: float) -> None:
        """Real-time packets, stamped (devstack/stamp.py) as bench/godevices stamps its own."""
        if self.device is None:
            return
        start, size, period = time.monotonic(), self.chunk, self.chunk_ms / 1000
        for seq in range(int(seconds / period)):
            self.late_ms.append(1000 * (time.monotonic() - start - seq * period))
            pcm = to_bytes(self.audio.device[seq * size : (seq + 1) * size])
            await self.device.room.local_participant.publish_data(
                self.device.packetize(stamp(pcm, seq, time.time_ns())), reliable=True
            )
            await asyncio.sleep(max(0.0, start + (seq + 1) * period - time.monotonic()))

    async def client_receiver(self) -> None:
        while True:
            chunk = await self.stream.receive()
            if chunk is None:
                return
            now = time.time_ns()
            self.received += 1
            sent = sent_ns(chunk.pcm_data) or 0
            self.e2e_ms.append((now - sent) / 1e6)
            self.arrivals.append((sent, now))

    async def client_sender(self, seconds: float) -> None:
        """Real-time chunks of the workload's client side (turns, or bursts, with silence)."""
        start, size, period = time.monotonic(), self.chunk, self.chunk_ms / 1000
        for i in range(int(seconds / period)):
            self.chunk_sent_at.append(time.monotonic())
            await self.stream.send(to_bytes(self.audio.client[i * size : (i + 1) * size]))
            due, now = start + (i + 1) * period, time.monotonic()
            await asyncio.sleep(max(0.0, due - now))
            # the loop's lag waking this sender: a send() held up by the bridge (its flow
            # control) is the bridge's delay, not the generator's, and is left out
            self.late_ms.append(1000 * max(0.0, time.monotonic() - max(due, now)))

    def speaker_recordings(self) -> list[Any]:
        """The device's recordings of the speaker track, oldest first (one per publication)."""
        if self.device is None:
            return []
        found = [r for r in self.device.earlier_recordings if r.name == "speaker"]
        current = self.device.recordings.get("speaker")
        return found + ([current] if current is not None else [])

    def one_way_ms(self) -> list[float]:
        """A client turn's first loud frame sent -> the first loud frame the device hears."""
        heard = [
            (part, at)
            for recording in self.speaker_recordings()
            for part, at in zip(recording.parts, recording.arrivals, strict=True)
        ]
        if not heard:
            return []
        turns = onset_latencies(
            heard, self.audio.client_onsets, self.chunk_sent_at, self.chunk, HELD_S
        )
        return [ms for _, ms in turns]

    async def heard(self) -> tuple[SpeechMatch, float] | None:
        """How the device heard the client's audio, and the track's kbit/s (RED included)."""
        recordings = self.speaker_recordings()
        if self.device is None or not recordings:
            return None
        recording = recordings[-1]
        sent = self.audio.client[: len(self.chunk_sent_at) * self.chunk]
        # a track parked after a quiet spell comes back as a new publication: what the device
        # heard is every publication's recording in turn (per-turn lags absorb the gaps)
        match = speech_match(sent, np.concatenate([r.samples() for r in recordings]))
        payload = sum(inbound.bytes_received for inbound in await inbound_audio(self.device.room))
        seconds = time.monotonic() - recording.subscribed_at
        return match, round(payload * 8 / 1000 / max(seconds, 1e-3), 1)


@dataclass
class WorkerReport:
    e2e_ms: list[float]
    arrivals: list[tuple[int, int, int]]  # (session, send stamp, receive() returned)
    one_way_ms: list[float]
    received: int
    heard: tuple[SpeechMatch, float] | None  # the first device's, in the worker that has it
    late_ms: list[float]  # how late each send of this worker was against its schedule


def worker_main(
    conn: Connection,
    settings: Settings,
    targets: list[str],
    cfg: LiveKitConfig,
    users: list[int],
    seconds: float,
    content: Content = "speech",
) -> None:
    """A load-generator process: devices and gRPC clients for some of the sessions."""
    if settings.client_nice:
        os.nice(settings.client_nice)  # the bridge first when the machine is short of cores
    set_sdk_logs(to_python=False)  # the generator's cores go to audio, not log records
    audio = workload(content, seconds, settings.chunk_ms)
    asyncio.run(_worker(conn, settings, targets, cfg, users, seconds, audio))


async def _worker(
    conn: Connection,
    settings: Settings,
    targets: list[str],
    cfg: LiveKitConfig,
    users: list[int],
    seconds: float,
    audio: Workload,
) -> None:
    loads: list[SessionLoad] = []
    clients = [client_for(settings, target) for target in targets]  # session i -> shard i % K
    try:
        await _drive(conn, settings, clients, cfg, users, seconds, loads, audio)
    finally:
        for bridge in clients:
            await bridge.aclose()


async def _drive(
    conn: Connection,
    settings: Settings,
    clients: list[BridgeClient],
    cfg: LiveKitConfig,
    users: list[int],
    seconds: float,
    loads: list[SessionLoad],
    audio: Workload,
) -> None:
    for i in users:
        client = clients[i % len(clients)]
        room = f"bench-{i}"
        # only the first device listens (for the one-way latency): a listening SDK room
        # costs a load generator far more than the bridge spends on a session
        device = None
        if i == 0 or not settings.go_devices:
            device = DevicePeer(
                cfg.url, mint_token(cfg.api_key, cfg.api_secret, room, "device"), subscribe=i == 0
            )
            await device.connect()
        token = mint_token(cfg.api_key, cfg.api_secret, room, f"cloud-agent:u{i}")
        joined = await client.join(
            f"u{i}", token=token, livekit_url=cfg.url, target_identity="device"
        )
        if not joined.success:
            raise RuntimeError(joined.error)
        stream = client.stream(f"u{i}")
        await open_stream(stream, settings.go_bridge is not None)
        if settings.warmup_s > 0:  # a chunk of silence: ours publishes the track now
            await stream.send(bytes(2 * settings.chunk))
        session_audio = audio.for_session(i, settings.chunk)
        loads.append(SessionLoad(i, device, stream, session_audio, settings.chunk_ms))
    await asyncio.sleep(settings.warmup_s)  # the publications settle before the run
    conn.send("ready")
    await asyncio.to_thread(conn.recv)  # "go"
    receivers = [asyncio.create_task(load.client_receiver()) for load in loads]
    await asyncio.gather(
        *(load.device_sender(seconds) for load in loads),
        *(load.client_sender(seconds) for load in loads),
    )
    await asyncio.sleep(1.0)
    heard = None
    for load in loads:
        heard = heard or await load.heard()
    conn.send(
        WorkerReport(
            e2e_ms=[v for load in loads for v in load.e2e_ms],
            arrivals=[(load.index, *v) for load in loads for v in load.arrivals],
            one_way_ms=[v for load in loads for v in load.one_way_ms()],
            received=sum(load.received for load in loads),
            heard=heard,
            late_ms=[v for load in loads for v in load.late_ms],
        )
    )
    await asyncio.to_thread(conn.recv)  # "leave"
    for load in loads:
        load.stream.cancel()
        await clients[load.index % len(clients)].leave(f"u{load.index}")
    for task in receivers:
        task.cancel()
    await asyncio.gather(*receivers, return_exceptions=True)
    for load in loads:
        if load.device is not None:
            await load.device.aclose()
    conn.send("left")


async def run(
    settings: Settings,
    n: int,
    seconds: float,
    livekit: LiveKitServer,
    per_worker: int,
    shards: int = 1,
    content: Content = "speech",
    bitrate: int = 0,
    source: Path | None = None,
    tag: str = "",
    name: str = "",
    flags: str = "",
) -> Result:
    trace_dir, packets_dir = settings.trace_dir, settings.packets_dir
    trace = trace_dir / f"captures-{n}{tag}.json" if trace_dir is not None else None
    packets = packets_dir / f"packets-{n}{tag}.json" if packets_dir is not None else None
    # admission sized to the run (the defaults, 20 sessions and 8 joins in flight, would refuse
    # N=25 at its 21st JoinRoom, and the CPU bound would refuse the last joins of a big N on one
    # core, where N joins at once cost more than 70 % of it: what is measured is the bridge's
    # capacity, not its limits; bench/admission.py measures those); a --variant's own flags
    # come after, and win
    admit = (f"--max-sessions={max(n, 20)}", f"--max-joins-in-flight={max(n, 8)}", "--max-cpu=0")
    extra = (
        admit + ((f"--publish-bitrate={bitrate}",) if bitrate else ()) + tuple(shlex.split(flags))
    )
    bridges = Bridges()
    try:
        if settings.go_bridge is not None:
            bridges.start_go(settings, livekit.config)
        for shard in range(shards if settings.go_bridge is None else 0):  # the first traced
            traced = (trace, packets) if shard == 0 else (None, None)
            bridges.add(start_bridge(settings, extra, *traced, source=source))
    except BaseException:
        bridges.stop()
        raise
    procs = [psutil.Process(pid) for pid in bridges.pids]
    targets = bridges.targets
    ctx = multiprocessing.get_context("spawn")
    workers = []
    go_devices: subprocess.Popen[str] | None = None
    go_report = Path(tempfile.mkdtemp(prefix="lkb-godevices-")) / "report.json"
    clients = [client_for(settings, target) for target in targets]
    try:
        await asyncio.sleep(1.0)
        base = await bridge_figures(settings, clients, procs)
        if settings.go_devices and n > 1:
            go_devices = await start_go_devices(
                settings, livekit.config, range(1, n), seconds, content, go_report
            )
        for first in range(0, n, per_worker):
            mine, theirs = ctx.Pipe()
            users = list(range(first, min(n, first + per_worker)))
            worker = ctx.Process(
                target=worker_main,
                args=(theirs, settings, targets, livekit.config, users, seconds, content),
                daemon=True,
            )
            worker.start()
            workers.append((worker, mine))
        for _, conn in workers:
            if await asyncio.to_thread(conn.recv) != "ready":
                raise RuntimeError("a load worker failed")
        await asyncio.sleep(1.0)
        measured = [p for proc in procs for p in family(proc)]  # keep the objects: CPU deltas
        for proc in measured:
            proc.cpu_percent()
        threads_before, window_started = thread_cpu_s(measured), time.monotonic()
        psutil.cpu_percent()  # the whole machine's, from here
        others = {
            "SFU": [psutil.Process(livekit.pid)] if livekit.pid is not None else [],
            "load generator": [psutil.Process(w.pid) for w, _ in workers if w.pid is not None]
            + ([psutil.Process(go_devices.pid)] if go_devices is not None else []),
        }
        for group in others.values():
            for proc in group:
                proc.cpu_percent()
        label = run_label(n, content, bitrate, name)
        profiler = start_profiler(settings.profile_dir, procs[0].pid, label, seconds)
        for _, conn in workers:
            conn.send("go")
        if go_devices is not None:
            await go_say(go_devices, "go")
        reports: list[WorkerReport] = [await asyncio.to_thread(c.recv) for _, c in workers]
        if go_devices is not None:
            await go_expect(go_devices, "done")
        if profiler is not None:
            await asyncio.to_thread(profiler.wait, 60)
        cpu = sum(proc.cpu_percent() for proc in measured)
        machine_busy = psutil.cpu_percent()
        cpu_beside = {name: sum(p.cpu_percent() for p in group) for name, group in others.items()}
        beside = ", ".join(f"{name} {share:.0f} %" for name, share in cpu_beside.items())
        by_thread = thread_shares(
            threads_before, thread_cpu_s(measured), time.monotonic() - window_started
        )
        during = await bridge_figures(settings, clients, procs)
        for _, conn in workers:
            conn.send("leave")
        if go_devices is not None:
            await go_say(go_devices, "leave")
            await asyncio.to_thread(go_devices.wait, 15)
        for worker, conn in workers:
            await asyncio.to_thread(conn.recv)
            worker.join(10)
        await asyncio.sleep(3.0)
        after = await bridge_figures(settings, clients, procs)
    finally:
        for client in clients:
            await client.aclose()
        for worker, _ in workers:
            if worker.is_alive():
                worker.kill()
        if go_devices is not None and go_devices.poll() is None:
            go_devices.kill()
        bridges.stop()
    captures = json.loads(trace.read_text()) if trace is not None and trace.exists() else None
    split: dict[str, dict[str, float]] = {}
    go_split: dict[str, dict[str, float]] = {}
    stamped = read_json(packets) if packets is not None else None
    if stamped is not None:
        arrivals = [a for r in reports for a in r.arrivals]
        split = split_parts(stamped, [(sent, got) for _, sent, got in arrivals])
        if settings.go_devices and n > 1:  # like for like with --sdk-floor (all Go devices)
            go_split = split_parts(stamped, [(sent, got) for i, sent, got in arrivals if i > 0])
    go_late, publish_errors = read_go_report(go_report)
    shutil.rmtree(go_report.parent, ignore_errors=True)
    clients_late = [v for r in reports for v in r.late_ms]
    overran = "; ".join(
        why
        for why in (
            overrun(go_late, settings.chunk_ms, "Go devices"),
            overrun(clients_late, settings.chunk_ms, "clients"),
        )
        if why
    )
    e2e = [v for r in reports for v in r.e2e_ms]
    one_way = [v for r in reports for v in r.one_way_ms]
    expected = n * int(seconds * 1000 / settings.chunk_ms)
    heard, kbps = next((r.heard for r in reports if r.heard is not None), (None, float("nan")))
    nan = float("nan")
    return Result(
        sessions=n,
        content=content,
        bridge_src=name,
        packet_split=split,
        go_packet_split=go_split,
        publish_bitrate=bitrate,
        bridge_queue_p50_ms=during.get("latency_queue_p50_ms", float("nan")),
        bridge_queue_p99_ms=during.get("latency_queue_p99_ms", float("nan")),
        duration_s=seconds,
        baseline_rss_mb=round(base["rss_mb"], 1),
        rss_mb=round(during["rss_mb"], 1),
        rss_per_session_mb=round((during["rss_mb"] - base["rss_mb"]) / n, 2),
        baseline_tasks=int(base["tasks"]),
        tasks=int(during["tasks"]),
        tasks_per_session=round((during["tasks"] - base["tasks"]) / n, 2),
        threads=int(during["threads"]),
        cpu_percent=round(cpu, 1),
        cpu_per_session=round(cpu / n, 2),
        bridge_in_p50_ms=during.get("latency_in_p50_ms", nan),
        bridge_in_p99_ms=during.get("latency_in_p99_ms", nan),
        bridge_in_ack_p50_ms=during.get("latency_in_ack_p50_ms", nan),
        bridge_in_ack_p99_ms=during.get("latency_in_ack_p99_ms", nan),
        bridge_out_p50_ms=during.get("latency_out_p50_ms", nan),
        bridge_out_p99_ms=during.get("latency_out_p99_ms", nan),
        e2e_device_to_client_p50_ms=round(percentile(e2e, 50), 1),
        e2e_device_to_client_p99_ms=round(percentile(e2e, 99), 1),
        client_to_device_p50_ms=round(percentile(one_way, 50), 1),
        client_to_device_p95_ms=round(percentile(one_way, 95), 1),
        frames_to_client=sum(r.received for r in reports),
        frames_expected=expected,
        after_leave_rss_mb=round(after["rss_mb"], 1),
        after_leave_tasks=int(after["tasks"]),
        after_leave_fds=int(after["fds"]),
        baseline_fds=int(base["fds"]),
        after_leave_threads=int(after["threads"]),
        baseline_threads=int(base["threads"]),
        sfu_cpu_percent=round(cpu_beside["SFU"], 1),
        load_cpu_percent=round(cpu_beside["load generator"], 1),
        go_devices_late_p99_ms=round(percentile(go_late, 99), 1) if go_late else nan,
        clients_late_p99_ms=round(percentile(clients_late, 99), 1) if clients_late else nan,
        overrun=overran,
        heard_correlation=heard.correlation if heard else nan,
        heard_worst_turn=heard.worst_turn if heard else nan,
        heard_loud_s=heard.heard_loud_s if heard else nan,
        sent_loud_s=heard.sent_loud_s if heard else nan,
        speaker_kbps=kbps,
        encoder_thread_percent=round(
            sum(v for k, v in by_thread.items() if k in ENCODER_THREADS) / n, 2
        ),
        notes=[
            f"one-way samples: {len(one_way)}, e2e samples: {len(e2e)}, "
            f"load workers: {len(workers)}, bridge processes: {len(procs)}",
            *([f"Go devices' publish errors: {publish_errors}"] if publish_errors else []),
            f"CPU % of one core by thread: {format_shares(by_thread)}",
            f"the machine's {psutil.cpu_count()} cores busy: {machine_busy:.0f} % "
            f"(% of one core: bridge {cpu:.0f} %, {beside})",
            *([f"capture_frame request -> callback -> return: {captures}"] if captures else []),
        ],
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 20])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--per-worker", type=int, default=4, help="sessions per load-generator process"
    )
    parser.add_argument("--chunk-ms", type=int, default=100, help="client and device chunk size")
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds between the sessions' setup and the scored run: each client sends a "
        "chunk of silence first, so its published track (ours publishes on first audio, the "
        "Go bridge at join) is not set up inside the run; 0: N publications at the run's start",
    )
    parser.add_argument(
        "--bridge-arg", action="append", default=[], help="extra `lkbridge serve` flag (repeat)"
    )
    parser.add_argument(
        "--load-nice",
        type=int,
        nargs="+",
        default=[0],
        help="niceness of the load generators (e.g. 10): the Go devices with --go-devices, "
        "else the device and client processes; several: alternated runs",
    )
    parser.add_argument(
        "--client-nice",
        type=int,
        nargs="+",
        help="niceness of the processes of the gRPC clients and the first device; default: 0 with "
        "--go-devices (niced, their receive() added 1-2 ms p50 and 15-30 ms p99 to device -> "
        "client at N=10), --load-nice's without; several: alternated runs",
    )
    parser.add_argument(
        "--go-devices",
        action="store_true",
        help="devices of rooms 2..N in one Go process (bench/godevices): a lighter load generator",
    )
    parser.add_argument(
        "--device-phase",
        choices=("aligned", "spread"),
        nargs="+",
        default=["spread"],
        help="the Go devices spread over the chunk as independent devices are (the default), or "
        "all sending in the same millisecond (aligned: a burst of N packets every chunk, which "
        "the receivers queue: device -> client 16 ms p50 at N=10 instead of 4-5); several: "
        "alternated",
    )
    parser.add_argument(
        "--sfu-nice",
        type=int,
        default=0,
        help="niceness of livekit-server: with --load-nice, the bridge first when cores are short",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the bridge; write stacks here")
    parser.add_argument(
        "--trace-captures",
        type=Path,
        help="time each capture_frame in three points (bench/capture_trace.py); JSON here",
    )
    parser.add_argument(
        "--trace-packets",
        type=Path,
        help="stamp each device packet on its way to the client (bench/packet_trace.py), print "
        "device -> client in parts; stamps as JSON here",
    )
    parser.add_argument(
        "--sdk-floor",
        action="store_true",
        help="with --go-devices: after the runs of each N, the same packets to an SDK-only "
        "receiver (bench/sdk_floor.py), no bridge: the floor of device -> FFI event",
    )
    parser.add_argument(
        "--floor-publish",
        action="store_true",
        help="with --sdk-floor: a second floor run whose receiver also publishes a track per "
        "room and speaks into it (the SDK's publishing cost, without the bridge's Python)",
    )
    parser.add_argument(
        "--bridge-src",
        type=Path,
        nargs="+",
        default=[],
        help="A/B: run the bridge from each of these checkouts (their lkbridge package) in turn, "
        "alternated, for every N",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of every setting, alternated with the others"
    )
    parser.add_argument(
        "--shards", type=int, default=1, help="bridge processes; session i goes to i %% K"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="bridge on CPU 0, the SFU and the load generator on the others",
    )
    parser.add_argument(
        "--content",
        choices=CONTENTS,
        default="speech",
        help="what the sessions say both ways (bench/workload.py): speech in turns, tones "
        "(the rounds before issue 18), silence, or mix (the device speaks all the time, the "
        "cloud 4 s of every 20 s, each session at its own phase)",
    )
    parser.add_argument(
        "--publish-bitrate",
        type=int,
        nargs="+",
        default=[0],
        help="the bridge's --publish-bitrate, bit/s (0: the SDK's default); several: one run "
        "of every N at each",
    )
    parser.add_argument(
        "--go-bridge",
        type=Path,
        help="a binary of the Go bridge (MentraOS cloud-livekit-bridge, bench/gobridge.py): "
        "every N also runs it, alternated with ours, and a capacity table (bench/capacity.py) "
        "follows: per run CPU and RSS per session, device -> cloud, drops, the SFU's and the "
        "load generator's CPU, DISCARDED runs (the generator overran), each bridge's knee",
    )
    parser.add_argument(
        "--variant",
        action="append",
        help="extra `lkbridge serve` flags of one setting to compare (repeat; --variant= for "
        "the defaults): one run of every N at each, alternated",
    )
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The invocation's Settings; the per-variant ones (niceness, phase) are replaced per run."""
    for directory in (args.trace_captures, args.trace_packets):
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
    for src in args.bridge_src:
        if not (src / "lkbridge" / "__init__.py").exists():
            raise SystemExit(f"--bridge-src {src}: no lkbridge package there")
    if args.sdk_floor and not args.go_devices:
        raise SystemExit("--sdk-floor needs --go-devices (the floor's devices are Go's)")
    if args.go_bridge is not None:
        check_binary(args.go_bridge)
        if args.shards != 1 or args.trace_captures or args.trace_packets or args.profile:
            raise SystemExit(
                "--go-bridge: no --shards, --trace-captures, --trace-packets or --profile "
                "(they reach into our bridge)"
            )
    bridge_cpu = pin_bridge_core() if args.pin else None
    return Settings(
        chunk_ms=args.chunk_ms,
        bridge_args=tuple(args.bridge_arg),
        bridge_cpu=bridge_cpu,
        profile_dir=args.profile,
        trace_dir=args.trace_captures,
        packets_dir=args.trace_packets,
        go_devices=args.go_devices,
        warmup_s=args.warmup,
    )


@dataclass(frozen=True)
class Variant:
    """One setting compared in the alternated runs of every N."""

    source: Path | None  # --bridge-src
    load_nice: int
    client_nice: int | None  # None: --client-nice's default
    phase: str  # --device-phase
    flags: str  # --variant
    go_bridge: Path | None = None  # --go-bridge: this variant is the Go bridge

    def settings(self, base: Settings) -> Settings:
        client_nice = self.client_nice
        if client_nice is None:
            client_nice = 0 if base.go_devices else self.load_nice
        return dataclasses.replace(
            base,
            load_nice=self.load_nice,
            client_nice=client_nice,
            spread_devices=self.phase == "spread",
            go_bridge=self.go_bridge,
        )

    def name(self, args: argparse.Namespace, settings: Settings) -> str:
        name = self.source.name if self.source is not None else ""
        name = "go" if self.go_bridge is not None else name
        if len(args.load_nice) > 1 or len(args.client_nice or []) > 1:
            name += f" nice {settings.load_nice}/{settings.client_nice}"
        if len(args.device_phase) > 1:
            name += f" {self.phase}"
        if self.flags:
            name += f" {self.flags}"
        return name.strip()


def variants(args: argparse.Namespace) -> list[Variant]:
    sources: list[Path | None] = [src.resolve() for src in args.bridge_src] or [None]
    ours = [
        Variant(source, load_nice, client_nice, phase, flags)
        for source in sources
        for flags in args.variant or [""]
        for load_nice in args.load_nice
        for client_nice in args.client_nice or [None]
        for phase in args.device_phase
    ]
    if args.go_bridge is None:
        return ours
    go = [
        Variant(None, load_nice, client_nice, phase, "", args.go_bridge.resolve())
        for load_nice in args.load_nice
        for client_nice in args.client_nice or [None]
        for phase in args.device_phase
    ]
    return ours + go


Floor = tuple[str, dict[str, dict[str, float]]]


async def main() -> None:
    args = parser().parse_args()
    base = settings_from(args)
    results: list[Result] = []
    floors: list[Floor] = []
    with LiveKitServer(LiveKitConfig()) as livekit:
        if args.sfu_nice and livekit.pid is not None:
            psutil.Process(livekit.pid).nice(args.sfu_nice)
        for bitrate in args.publish_bitrate:
            for n in args.sessions:
                for attempt in range(args.repeat):
                    for index, variant in enumerate(variants(args)):
                        settings = variant.settings(base)
                        name = variant.name(args, settings)
                        label = run_label(n, args.content, bitrate, name)
                        print(f"running {label} for {args.duration:.0f} s ...", file=sys.stderr)
                        result = await run(
                            settings, n, args.duration, livekit, args.per_worker,
                            args.shards, args.content, bitrate, variant.source,
                            f"-{index}-{attempt}", name, variant.flags,
                        )  # fmt: skip
                        results.append(result)
                    if args.sdk_floor:
                        floors += await floor_runs(args, base, livekit, n, attempt)
    report(results, floors, base)
    if args.go_bridge is not None:
        print()
        print(capacity_table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


async def floor_runs(
    args: argparse.Namespace, base: Settings, livekit: LiveKitServer, n: int, attempt: int
) -> list[Floor]:
    """--sdk-floor: after the runs of an N, the same Go devices' packets to bench/sdk_floor.py."""
    floors = []
    for phase in args.device_phase:
        for publish in [False, *([True] if args.floor_publish else [])]:
            settings = dataclasses.replace(base, spread_devices=phase == "spread")
            label = f"N={n} {args.content} SDK-only floor"
            label += " publishing" if publish else ""
            label += f" {phase}" if len(args.device_phase) > 1 else ""
            print(f"running {label} ...", file=sys.stderr)
            out = base.packets_dir or Path(tempfile.mkdtemp())
            out /= f"floor-{n}-{attempt}-{phase}-{int(publish)}.json"
            split = await floor_run(settings, n, args.duration, livekit, args.content, out, publish)
            floors.append((label, split))
    return floors


def report(results: list[Result], floors: list[Floor], settings: Settings) -> None:
    print_table(results)
    for result in results:
        for note in result.notes:
            print(f"{result_label(result)}: {note}")
    for result in results:
        if result.packet_split:
            print(format_split(result_label(result), result.packet_split))
        if result.go_packet_split:
            label = f"{result_label(result)}, the Go devices' rooms"
            print(format_split(label, result.go_packet_split))
    for label, split in floors:
        if split:
            print(format_split(label, split))
    if settings.profile_dir is not None:
        for result in results:
            path = profile_path(settings.profile_dir, result_label(result))
            if path.exists():
                print(profile_summary(path))


if __name__ == "__main__":
    netns.reexec_inside()
    asyncio.run(main())

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

    sudo .venv/bin/python bench/sessions.py --sessions 1 10 20 --duration 60
    sudo .venv/bin/python bench/sessions.py --sessions 10 --publish-bitrate 0 64000 72000 96000
    sudo .venv/bin/python bench/sessions.py --sessions 10 --repeat 2 \
        --variant= --variant=--catch-up-ms=20

Run as root it enters the project's network namespace by itself. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.packet_trace import format_split, split_parts  # noqa: E402
from bench.workload import (  # noqa: E402
    CONTENTS,
    Content,
    SpeechMatch,
    Workload,
    inbound_audio,
    onset_latencies,
    speech_match,
    workload,
)
from lkbridge.audio.pcm import Int16Array, to_bytes  # noqa: E402
from lkbridge.client import AudioStreamCall, BridgeClient  # noqa: E402
from lkbridge.devstack import netns  # noqa: E402
from lkbridge.devstack.device import DevicePeer  # noqa: E402
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer, cache_dir  # noqa: E402
from lkbridge.devstack.tokens import mint_token  # noqa: E402
from lkbridge.rtcruntime import set_sdk_logs  # noqa: E402
from lkbridge.server.stats import percentile  # noqa: E402

CHUNK_MS = 100
CHUNK = 16000 * CHUNK_MS // 1000
HELD_S = 2.0  # the bridge's first-audio wait: client onsets before it are no latency probes


@dataclass
class Result:
    sessions: int
    content: str
    bridge_src: str  # the variant: --bridge-src checkout, niceness ("" when only one)
    packet_split: dict[str, dict[str, float]]  # --trace-packets: device -> client in parts
    go_packet_split: dict[str, dict[str, float]]  # ... of the Go devices' rooms only
    publish_bitrate: int
    duration_s: float
    baseline_rss_mb: float
    rss_mb: float
    rss_per_session_mb: float
    baseline_tasks: int
    tasks: int
    tasks_per_session: float
    threads: int
    cpu_percent: float
    cpu_per_session: float
    bridge_in_p50_ms: float
    bridge_in_p99_ms: float
    bridge_in_ack_p50_ms: float
    bridge_in_ack_p99_ms: float
    bridge_out_p50_ms: float
    bridge_out_p99_ms: float
    e2e_device_to_client_p50_ms: float
    e2e_device_to_client_p99_ms: float
    client_to_device_p50_ms: float
    client_to_device_p95_ms: float
    frames_to_client: int
    frames_expected: int
    after_leave_rss_mb: float
    after_leave_tasks: int
    after_leave_fds: int
    baseline_fds: int
    heard_correlation: float
    heard_worst_turn: float
    heard_loud_s: float
    sent_loud_s: float
    speaker_kbps: float
    encoder_thread_percent: float
    bridge_queue_p50_ms: float = float("nan")
    bridge_queue_p99_ms: float = float("nan")
    notes: list[str] = field(default_factory=list)


def stamp(chunk: Int16Array, seq: int) -> None:
    """Sample 0: the sequence number; samples 1-4: the send time (Unix ns, 16 bits each)."""
    now = time.time_ns()
    chunk[0] = np.int16(np.uint16(seq & 0xFFFF).view(np.int16))
    chunk[1:5] = np.array([(now >> (16 * w)) & 0xFFFF for w in range(4)], np.uint16).view(np.int16)


def sent_ns(pcm: bytes) -> int:
    """The send time `stamp` put in a packet's PCM (the same clock: one machine)."""
    words = np.frombuffer(pcm[2:10], dtype="<u2")
    return sum(int(word) << (16 * w) for w, word in enumerate(words))


class SessionLoad:
    """One user's traffic: device packets in, client chunks out, latency probes."""

    def __init__(
        self, index: int, device: DevicePeer | None, stream: AudioStreamCall, audio: Workload
    ) -> None:
        self.index = index
        self.device = device  # None: the room's device is one of bench/godevices's
        self.stream = stream
        self.audio = audio
        self.e2e_ms: list[float] = []
        self.arrivals: list[tuple[int, int]] = []  # (send stamp, receive() returned), Unix ns
        self.received = 0
        self.chunk_sent_at: list[float] = []  # monotonic time each client chunk went out

    async def device_sender(self, seconds: float) -> None:
        """Real-time packets, stamped (`stamp`) as bench/godevices stamps its own."""
        if self.device is None:
            return
        start = time.monotonic()
        for seq in range(int(seconds * 1000 / CHUNK_MS)):
            chunk = self.audio.device[seq * CHUNK : (seq + 1) * CHUNK].copy()
            stamp(chunk, seq)
            await self.device.room.local_participant.publish_data(
                self.device.packetize(to_bytes(chunk)), reliable=True
            )
            await asyncio.sleep(max(0.0, start + (seq + 1) * CHUNK_MS / 1000 - time.monotonic()))

    async def client_receiver(self) -> None:
        while True:
            chunk = await self.stream.receive()
            if chunk is None:
                return
            now = time.time_ns()
            self.received += 1
            sent = sent_ns(chunk.pcm_data)
            self.e2e_ms.append((now - sent) / 1e6)
            self.arrivals.append((sent, now))

    async def client_sender(self, seconds: float) -> None:
        """Real-time chunks of the workload's client side (turns, or bursts, with silence)."""
        start = time.monotonic()
        for i in range(int(seconds * 1000 / CHUNK_MS)):
            self.chunk_sent_at.append(time.monotonic())
            await self.stream.send(to_bytes(self.audio.client[i * CHUNK : (i + 1) * CHUNK]))
            await asyncio.sleep(max(0.0, start + (i + 1) * CHUNK_MS / 1000 - time.monotonic()))

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
        turns = onset_latencies(heard, self.audio.client_onsets, self.chunk_sent_at, CHUNK, HELD_S)
        return [ms for _, ms in turns]

    async def heard(self) -> tuple[SpeechMatch, float] | None:
        """How the device heard the client's audio, and the track's kbit/s (RED included)."""
        recordings = self.speaker_recordings()
        if self.device is None or not recordings:
            return None
        recording = recordings[-1]
        sent = self.audio.client[: len(self.chunk_sent_at) * CHUNK]
        # a track parked after a quiet spell comes back as a new publication: what the device
        # heard is every publication's recording in turn (per-turn lags absorb the gaps)
        match = speech_match(sent, np.concatenate([r.samples() for r in recordings]))
        payload = sum(inbound.bytes_received for inbound in await inbound_audio(self.device.room))
        seconds = time.monotonic() - recording.subscribed_at
        return match, round(payload * 8 / 1000 / max(seconds, 1e-3), 1)


BRIDGE_ARGS: list[str] = []
LOAD_NICE = 0  # --load-nice: niceness of the load-generator processes
CLIENT_NICE = 0  # --client-nice: of the processes with the gRPC clients
BRIDGE_CPU: int | None = None  # --pin: the bridge alone on this CPU
PROFILE_DIR: Path | None = None  # --profile: py-spy samples of the bridge while loaded
TRACE_DIR: Path | None = None  # --trace-captures: capture_frame timed in three points
PACKETS_DIR: Path | None = None  # --trace-packets: device packets stamped on their way


def start_bridge(
    trace: Path | None = None,
    extra: tuple[str, ...] = (),
    packets: Path | None = None,
    source: Path | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """`lkbridge serve`, traced by bench/capture_trace.py or bench/packet_trace.py (or both);
    from `source`'s lkbridge package instead of this checkout's (--bridge-src)."""
    launcher = ["-m", "lkbridge"]
    if packets is not None:
        launcher = [str(ROOT / "bench/packet_trace.py"), str(packets)]
        launcher += [str(trace)] if trace is not None else []
    elif trace is not None:
        launcher = [str(ROOT / "bench/capture_trace.py"), str(trace)]
    env = None
    if source is not None:  # first on sys.path: `-m` puts the cwd there, a script PYTHONPATH
        env = {**os.environ, "PYTHONPATH": str(source)}
    proc = subprocess.Popen(
        [
            *(["taskset", "--cpu-list", str(BRIDGE_CPU)] if BRIDGE_CPU is not None else []),
            sys.executable,
            *launcher,
            "serve",
            "--port",
            "0",
            "--log-level",
            "warning",
            *BRIDGE_ARGS,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=source,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("lkbridge listening on"):
        raise RuntimeError(f"bridge did not start: {line!r}")
    return proc, line.split()[-1]


def start_profiler(pid: int, label: str, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy (pip install py-spy; not a dependency) sampling the bridge, collapsed stacks."""
    if PROFILE_DIR is None:
        return None
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    out = PROFILE_DIR / f"sessions-{label.replace('/', '-')}.txt"
    args = [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds) - 2))]
    args += ["--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"]
    args += ["--native", "--threads"] if os.environ.get("LKBRIDGE_PROFILE_NATIVE") else []
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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


async def figures(client: BridgeClient, proc: psutil.Process) -> dict[str, float]:
    health = await client.health()
    return {
        "rss_mb": sum(p.memory_info().rss for p in family(proc)) / 2**20,
        "tasks": int(health.metadata["tasks"]),
        "threads": sum(p.num_threads() for p in family(proc)),
        "fds": sum(p.num_fds() for p in family(proc)),
        **{k: float(v) for k, v in health.metadata.items() if k.startswith("latency_")},
    }


# The SDK's Opus encoder runs on libwebrtc's audio encoder task queue (/proc comm, digits dropped)
ENCODER_THREADS = frozenset({"AudioEncoderQue"})

GO_DEVICES = False  # --go-devices: rooms 1..N-1 get bench/godevices's devices
SPREAD_DEVICES = False  # --device-phase spread: each Go device starts i/N of a chunk later


def go_devices_log() -> Path:
    """Where bench/godevices's stderr goes (pion's own chatter): read it when a run fails."""
    return cache_dir() / "godevices.log"


def build_go_devices() -> Path:
    """bench/godevices, built once into the setup's cache (its Go modules cached there too)."""
    cache = cache_dir()
    binary = cache / "bin" / "godevices"
    source = ROOT / "bench" / "godevices"
    newest = max(f.stat().st_mtime for f in source.iterdir())
    if not binary.exists() or binary.stat().st_mtime < newest:
        env = {
            **os.environ,
            "GOMODCACHE": str(cache / "gomod"),
            "GOCACHE": str(cache / "gocache"),
            "GOFLAGS": "-mod=mod",
        }
        print("building bench/godevices ...", file=sys.stderr)
        subprocess.run(["go", "build", "-o", str(binary), "."], cwd=source, env=env, check=True)
    return binary


async def start_go_devices(
    cfg: LiveKitConfig, users: range, seconds: float, content: Content
) -> subprocess.Popen[str]:
    """One Go process for the devices of `users`' rooms, joined and waiting for "go".

    They send the same audio as the Python devices: the workload's device side, from a raw
    PCM file (16 kHz mono s16le) that bench/godevices reads.
    """
    pcm = cache_dir() / f"godevices-{content}.pcm"
    pcm.write_bytes(to_bytes(workload(content, seconds, CHUNK_MS).device))
    with go_devices_log().open("w") as stderr:
        proc = subprocess.Popen(
            ["nice", "-n", str(LOAD_NICE), str(build_go_devices())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    tokens = [mint_token(cfg.api_key, cfg.api_secret, f"bench-{i}", "device") for i in users]
    job = {
        "url": cfg.url,
        "tokens": tokens,
        "chunk_ms": CHUNK_MS,
        "seconds": seconds,
        "pcm": str(pcm),
        "spread": SPREAD_DEVICES,
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


def read_json(path: Path) -> Any:
    """A trace a bench process wrote on exit; None if it wrote none."""
    return json.loads(path.read_text()) if path.exists() else None


async def floor_run(
    n: int, seconds: float, livekit: LiveKitServer, content: Content, out: Path, publish: bool
) -> dict[str, dict[str, float]]:
    """The SDK-only floor (bench/sdk_floor.py): the Go devices of rooms 0..N-1 sending to one
    process that only receives, as the bridge does but with nothing else to do (with `publish`,
    it also publishes a track per room and speaks into it, as the bridge does)."""
    cfg = livekit.config
    args = [str(ROOT / "bench/sdk_floor.py"), cfg.url, cfg.api_key, cfg.api_secret, str(n)]
    receiver = subprocess.Popen(
        [sys.executable, *args, str(out), *([content] if publish else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert receiver.stdin is not None and receiver.stdout is not None
    devices: subprocess.Popen[str] | None = None
    try:
        said = (await asyncio.to_thread(receiver.stdout.readline)).strip()
        if said != "ready":
            raise RuntimeError(f"bench/sdk_floor.py said {said!r}, not 'ready'")
        devices = await start_go_devices(cfg, range(n), seconds, content)
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


@dataclass
class WorkerReport:
    e2e_ms: list[float]
    arrivals: list[tuple[int, int, int]]  # (session, send stamp, receive() returned)
    one_way_ms: list[float]
    received: int
    heard: tuple[SpeechMatch, float] | None  # the first device's, in the worker that has it


def worker_main(
    conn: Connection,
    targets: list[str],
    cfg: LiveKitConfig,
    users: list[int],
    seconds: float,
    chunk_ms: int,
    nice: int = 0,
    go_devices: bool = False,
    content: Content = "speech",
) -> None:
    """A load-generator process: devices and gRPC clients for some of the sessions."""
    global CHUNK_MS, CHUNK
    if nice:
        os.nice(nice)  # the bridge comes first when the machine is short of cores
    CHUNK_MS, CHUNK = chunk_ms, 16 * chunk_ms
    set_sdk_logs("native")  # the generator's share of the cores goes to audio, not log records
    audio = workload(content, seconds, chunk_ms)
    asyncio.run(_worker(conn, targets, cfg, users, seconds, go_devices, audio))


async def _worker(
    conn: Connection,
    targets: list[str],
    cfg: LiveKitConfig,
    users: list[int],
    seconds: float,
    go_devices: bool,
    audio: Workload,
) -> None:
    loads: list[SessionLoad] = []
    clients = [BridgeClient(target) for target in targets]  # session i -> shard i % K
    try:
        await _drive(conn, clients, cfg, users, seconds, loads, go_devices, audio)
    finally:
        for bridge in clients:
            await bridge.aclose()


async def _drive(
    conn: Connection,
    clients: list[BridgeClient],
    cfg: LiveKitConfig,
    users: list[int],
    seconds: float,
    loads: list[SessionLoad],
    go_devices: bool,
    audio: Workload,
) -> None:
    for i in users:
        client = clients[i % len(clients)]
        room = f"bench-{i}"
        # only the first device listens (for the one-way latency): a listening SDK room
        # costs a load generator far more than the bridge spends on a session
        device = None
        if i == 0 or not go_devices:
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
        await stream.open()
        loads.append(SessionLoad(i, device, stream, audio.for_session(i, CHUNK)))
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


async def run(
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
    trace = TRACE_DIR / f"captures-{n}{tag}.json" if TRACE_DIR is not None else None
    packets = PACKETS_DIR / f"packets-{n}{tag}.json" if PACKETS_DIR is not None else None
    extra = ((f"--publish-bitrate={bitrate}",) if bitrate else ()) + tuple(shlex.split(flags))
    bridges = [
        start_bridge(trace, extra, packets, source)
        if shard == 0
        else start_bridge(None, extra, None, source)
        for shard in range(shards)
    ]
    procs = [psutil.Process(bridge.pid) for bridge, _ in bridges]
    targets = [target for _, target in bridges]
    ctx = multiprocessing.get_context("spawn")
    workers = []
    go_devices: subprocess.Popen[str] | None = None
    clients = [BridgeClient(target) for target in targets]
    try:
        await asyncio.sleep(1.0)
        base = await shard_figures(clients, procs)
        if GO_DEVICES and n > 1:
            go_devices = await start_go_devices(livekit.config, range(1, n), seconds, content)
        for first in range(0, n, per_worker):
            mine, theirs = ctx.Pipe()
            users = list(range(first, min(n, first + per_worker)))
            worker = ctx.Process(
                target=worker_main,
                args=(
                    theirs,
                    targets,
                    livekit.config,
                    users,
                    seconds,
                    CHUNK_MS,
                    CLIENT_NICE,
                    GO_DEVICES,
                    content,
                ),
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
        profiler = start_profiler(procs[0].pid, run_label(n, content, bitrate, name), seconds)
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
        beside = ", ".join(
            f"{name} {sum(p.cpu_percent() for p in group):.0f} %" for name, group in others.items()
        )
        by_thread = thread_shares(
            threads_before, thread_cpu_s(measured), time.monotonic() - window_started
        )
        during = await shard_figures(clients, procs)
        for _, conn in workers:
            conn.send("leave")
        if go_devices is not None:
            await go_say(go_devices, "leave")
            await asyncio.to_thread(go_devices.wait, 15)
        for worker, conn in workers:
            await asyncio.to_thread(conn.recv)
            worker.join(10)
        await asyncio.sleep(3.0)
        after = await shard_figures(clients, procs)
    finally:
        for client in clients:
            await client.aclose()
        for worker, _ in workers:
            if worker.is_alive():
                worker.kill()
        if go_devices is not None and go_devices.poll() is None:
            go_devices.kill()
        for bridge, _ in bridges:
            bridge.terminate()
            bridge.wait(15)
    captures = json.loads(trace.read_text()) if trace is not None and trace.exists() else None
    split: dict[str, dict[str, float]] = {}
    go_split: dict[str, dict[str, float]] = {}
    stamped = read_json(packets) if packets is not None else None
    if stamped is not None:
        arrivals = [a for r in reports for a in r.arrivals]
        split = split_parts(stamped, [(sent, got) for _, sent, got in arrivals])
        if GO_DEVICES and n > 1:  # like for like with --sdk-floor, whose devices are all Go's
            go_split = split_parts(stamped, [(sent, got) for i, sent, got in arrivals if i > 0])
    e2e = [v for r in reports for v in r.e2e_ms]
    one_way = [v for r in reports for v in r.one_way_ms]
    expected = n * int(seconds * 1000 / CHUNK_MS)
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
        bridge_in_p50_ms=during["latency_in_p50_ms"],
        bridge_in_p99_ms=during["latency_in_p99_ms"],
        bridge_in_ack_p50_ms=during["latency_in_ack_p50_ms"],
        bridge_in_ack_p99_ms=during["latency_in_ack_p99_ms"],
        bridge_out_p50_ms=during["latency_out_p50_ms"],
        bridge_out_p99_ms=during["latency_out_p99_ms"],
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
            f"load workers: {len(workers)}, bridge processes: {shards}",
            f"CPU % of one core by thread: {format_shares(by_thread)}",
            f"the machine's {psutil.cpu_count()} cores busy: {machine_busy:.0f} % "
            f"(% of one core: bridge {cpu:.0f} %, {beside})",
            *([f"capture_frame request -> callback -> return: {captures}"] if captures else []),
        ],
    )


def run_label(n: int, content: str, bitrate: int, source: str = "") -> str:
    return (
        f"N={n} {content}"
        + (f" @{bitrate // 1000}k" if bitrate else "")
        + (f" [{source}]" if source else "")
    )


def result_label(r: Result) -> str:
    return run_label(r.sessions, r.content, r.publish_bitrate, r.bridge_src)


def print_table(results: list[Result]) -> None:
    rows: list[tuple[str, str | Callable[[Result], object]]] = [
        ("sessions", "sessions"),
        ("variant (--bridge-src, nice)", lambda r: r.bridge_src or "-"),
        ("content, publish bitrate", lambda r: f"{r.content} {r.publish_bitrate or 'default'}"),
        ("RSS MB (baseline -> loaded)", lambda r: f"{r.baseline_rss_mb} -> {r.rss_mb}"),
        ("RSS per session MB", "rss_per_session_mb"),
        ("asyncio tasks (baseline -> loaded)", lambda r: f"{r.baseline_tasks} -> {r.tasks}"),
        ("tasks per session", "tasks_per_session"),
        ("threads", "threads"),
        ("CPU % of one core (per session)", lambda r: f"{r.cpu_percent} ({r.cpu_per_session})"),
        (
            "bridge in p50/p99 ms (gRPC -> capture_frame called)",
            lambda r: f"{r.bridge_in_p50_ms:.2f} / {r.bridge_in_p99_ms:.2f}",
        ),
        (
            "  ... -> capture_frame returned p50/p99 ms",
            lambda r: f"{r.bridge_in_ack_p50_ms:.2f} / {r.bridge_in_ack_p99_ms:.2f}",
        ),
        (
            "  queue ahead of a chunk in its source p50/p99 ms",
            lambda r: f"{r.bridge_queue_p50_ms:.2f} / {r.bridge_queue_p99_ms:.2f}",
        ),
        (
            "bridge out p50/p99 ms (packet -> gRPC write)",
            lambda r: f"{r.bridge_out_p50_ms:.2f} / {r.bridge_out_p99_ms:.2f}",
        ),
        (
            "device -> client p50/p99 ms",
            lambda r: f"{r.e2e_device_to_client_p50_ms} / {r.e2e_device_to_client_p99_ms}",
        ),
        (
            "client -> device p50/p95 ms",
            lambda r: f"{r.client_to_device_p50_ms} / {r.client_to_device_p95_ms}",
        ),
        ("frames to client / expected", lambda r: f"{r.frames_to_client} / {r.frames_expected}"),
        ("encoder thread % of a core per session", "encoder_thread_percent"),
        (
            "device heard: envelope correlation (worst turn)",
            lambda r: f"{r.heard_correlation} ({r.heard_worst_turn})",
        ),
        ("device heard: loud s heard / sent", lambda r: f"{r.heard_loud_s} / {r.sent_loud_s}"),
        ("device heard: speaker track kbit/s", "speaker_kbps"),
        (
            "after leave: RSS MB, tasks, fds (baseline fds)",
            lambda r: (
                f"{r.after_leave_rss_mb}, {r.after_leave_tasks}, "
                f"{r.after_leave_fds} ({r.baseline_fds})"
            ),
        ),
    ]
    width = max(len(label) for label, _ in rows)
    for label, get in rows:
        cells = [str(getattr(r, get) if isinstance(get, str) else get(r)) for r in results]
        print(f"{label:<{width}}  " + "  ".join(f"{c:>18}" for c in cells))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 20])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--per-worker", type=int, default=4, help="sessions per load-generator process"
    )
    parser.add_argument("--chunk-ms", type=int, default=100, help="client and device chunk size")
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
        "--variant",
        action="append",
        help="extra `lkbridge serve` flags of one setting to compare (repeat; --variant= for "
        "the defaults): one run of every N at each, alternated",
    )
    args = parser.parse_args()
    global LOAD_NICE, CLIENT_NICE, PROFILE_DIR, TRACE_DIR, BRIDGE_CPU, GO_DEVICES, PACKETS_DIR
    global SPREAD_DEVICES
    GO_DEVICES = args.go_devices
    PROFILE_DIR, TRACE_DIR = args.profile, args.trace_captures
    PACKETS_DIR = args.trace_packets
    for directory in (TRACE_DIR, PACKETS_DIR):
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
    sources: list[Path | None] = [src.resolve() for src in args.bridge_src] or [None]
    for src in args.bridge_src:
        if not (src / "lkbridge" / "__init__.py").exists():
            raise SystemExit(f"--bridge-src {src}: no lkbridge package there")
    if args.pin:
        others = set(range(1, os.cpu_count() or 1))
        if not others:
            raise SystemExit("--pin needs at least 2 CPUs")
        os.sched_setaffinity(0, others)  # the SFU and the load workers start from here
        BRIDGE_CPU = 0
    global CHUNK_MS, CHUNK
    CHUNK_MS, CHUNK = args.chunk_ms, 16 * args.chunk_ms
    BRIDGE_ARGS.extend(args.bridge_arg)
    results = []
    floors: list[tuple[str, dict[str, dict[str, float]]]] = []
    if args.sdk_floor and not args.go_devices:
        raise SystemExit("--sdk-floor needs --go-devices (the floor's devices are Go's)")
    with LiveKitServer(LiveKitConfig()) as livekit:
        if args.sfu_nice and livekit.pid is not None:
            psutil.Process(livekit.pid).nice(args.sfu_nice)
        variants = [
            (source, load_nice, client_nice, phase, flags)
            for source in sources
            for flags in args.variant or [""]
            for load_nice in args.load_nice
            for client_nice in args.client_nice or [None]
            for phase in args.device_phase
        ]
        for bitrate in args.publish_bitrate:
            for n in args.sessions:
                for attempt in range(args.repeat):
                    for index, (source, load_nice, client_nice, phase, flags) in enumerate(
                        variants
                    ):
                        LOAD_NICE = load_nice
                        if client_nice is not None:
                            CLIENT_NICE = client_nice
                        else:
                            CLIENT_NICE = 0 if args.go_devices else load_nice
                        SPREAD_DEVICES = phase == "spread"
                        name = source.name if source is not None else ""
                        if len(args.load_nice) > 1 or len(args.client_nice or []) > 1:
                            name += f" nice {LOAD_NICE}/{CLIENT_NICE}"
                        if len(args.device_phase) > 1:
                            name += f" {phase}"
                        if flags:
                            name += f" {flags}"
                        label = run_label(n, args.content, bitrate, name)
                        print(f"running {label} for {args.duration:.0f} s ...", file=sys.stderr)
                        results.append(
                            await run(
                                n,
                                args.duration,
                                livekit,
                                args.per_worker,
                                args.shards,
                                args.content,
                                bitrate,
                                source,
                                f"-{index}-{attempt}",
                                name.strip(),
                                flags,
                            )
                        )
                    floor_kinds = [False, *([True] if args.floor_publish else [])]
                    for phase in args.device_phase if args.sdk_floor else []:
                        for publish in floor_kinds:
                            SPREAD_DEVICES = phase == "spread"
                            label = f"N={n} {args.content} SDK-only floor"
                            label += " publishing" if publish else ""
                            label += f" {phase}" if len(args.device_phase) > 1 else ""
                            print(f"running {label} ...", file=sys.stderr)
                            out = PACKETS_DIR or Path(tempfile.mkdtemp())
                            out /= f"floor-{n}-{attempt}-{phase}-{int(publish)}.json"
                            split = await floor_run(
                                n, args.duration, livekit, args.content, out, publish
                            )
                            floors.append((label, split))
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
    if PROFILE_DIR is not None:
        for result in results:
            label = result_label(result)
            path = PROFILE_DIR / f"sessions-{label.replace('/', '-')}.txt"
            if path.exists():
                print(profile_summary(path))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    netns.reexec_inside()
    asyncio.run(main())

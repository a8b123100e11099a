"""Users arriving one by one past the knee: what `--max-cpu` keeps for the sessions already in.

    sudo .venv/bin/python -m bench.admission --sessions 30 --every 2 --hold 30 --pin \
        --variant=--max-cpu=0 --variant=--max-cpu=80 --repeat 2

bench/sessions.py joins all N sessions before it measures: it finds the knee, never what happens
as users keep coming after it. Here a new user joins every --every seconds and at once streams
speech both ways (the cloud's chunks to its track, the glasses' packets from bench/godevices, one
Go device per room, sending from the start), so the process is loaded while it decides each
join, as in production. After the last join the sessions it holds stream on for --hold seconds.
Printed per 5 s window: sessions held, joins refused so far, the bridge's CPU (% of one core)
and its own `cpu_busy_percent`, how long its threads waited runnable for a CPU (schedstat: a
sign of saturation whoever takes the core, which `--max-cpu` does not see), and device -> cloud
latency p50/p99 over every chunk that arrived in the window; then per run the refusals and the
hold's figures.

`--pin`: the bridge alone on CPU 0, the SFU, the Go devices and this process (the gRPC clients)
on the others, as bench/sessions.py --pin: one core's capacity. Run from the checkout's root as
root (it enters the project's network namespace by itself). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.go_devices import go_expect, go_say, read_go_report, start_go_devices
from bench.sessions import SessionLoad, start_bridge
from bench.settings import Settings, pin_bridge_core
from bench.workload import workload
from lkbridge.client import AudioStreamCall, BridgeClient
from lkbridge.devstack import netns
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.threads import run_delay_ns
from lkbridge.devstack.tokens import mint_token
from lkbridge.errors import ClientError
from lkbridge.percentiles import percentile

WINDOW_S = 5.0


@dataclass
class Window:
    start_s: float
    held: int
    refused: int
    cpu_percent: float  # the bridge's, % of one core, over the window
    busy_percent: float  # what the bridge reported (HealthCheck cpu_busy_percent) at its end
    waited_ms_per_s: float  # its threads' time runnable without a CPU (schedstat), per second
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    chunks: int = 0


@dataclass
class RunResult:
    name: str
    joined: int
    refused: int
    first_refused_at: int | None  # the user index of the first refusal
    refusals: list[str] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    hold_p50_ms: float = 0.0
    hold_p99_ms: float = 0.0
    hold_worst_p99_ms: float = 0.0
    hold_cpu_percent: float = 0.0
    generator_late_p99_ms: float = 0.0  # the gRPC clients' and the Go devices' sends


async def join_and_stream(
    client: BridgeClient, cfg: LiveKitConfig, i: int, seconds: float, settings: Settings
) -> SessionLoad | str:
    """User i joins and streams for `seconds`; the refusal's text when it is refused."""
    room = f"bench-{i}"
    token = mint_token(cfg.api_key, cfg.api_secret, room, f"cloud-agent:u{i}")
    try:
        joined = await client.join(
            f"u{i}", token=token, livekit_url=cfg.url, target_identity="device"
        )
    except ClientError as exc:
        if exc.code != "RESOURCE_EXHAUSTED":
            raise
        return exc.details
    if not joined.success:
        raise RuntimeError(joined.error)
    stream: AudioStreamCall = client.stream(f"u{i}")
    await stream.open()
    audio = workload("speech", seconds, settings.chunk_ms).for_session(i, settings.chunk)
    return SessionLoad(i, None, stream, audio, settings.chunk_ms)


async def run(
    args: argparse.Namespace, settings: Settings, livekit: LiveKitServer, flags: str
) -> RunResult:
    n, every, hold = args.sessions, args.every, args.hold
    total = n * every + hold
    extra = (f"--max-sessions={n}", f"--max-joins-in-flight={n}", *shlex.split(flags))
    bridge = start_bridge(settings, extra)
    proc = psutil.Process(bridge.pid)
    report = Path(tempfile.mkdtemp(prefix="lkb-admission-")) / "go-report.json"
    devices = await start_go_devices(
        settings, livekit.config, range(n), total + 2, "speech", report
    )
    client = BridgeClient(bridge.target)
    result = RunResult(flags or "defaults", 0, 0, None)
    loads: list[SessionLoad] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await go_say(devices, "go")
        started = time.monotonic()
        proc.cpu_percent()
        waited_ns = run_delay_ns(bridge.pid)
        next_window = started + WINDOW_S
        for i in range(n + int(hold / every)):
            if i < n:
                outcome = await join_and_stream(
                    client, livekit.config, i, total - i * every, settings
                )
                if isinstance(outcome, str):
                    result.refusals.append(outcome)
                    if result.first_refused_at is None:
                        result.first_refused_at = i
                else:
                    loads.append(outcome)
                    tasks.append(asyncio.create_task(outcome.client_receiver()))
                    tasks.append(asyncio.create_task(outcome.client_sender(total - i * every)))
            await asyncio.sleep(max(0.0, started + (i + 1) * every - time.monotonic()))
            while time.monotonic() >= next_window:
                health = await client.health()
                waited_before, waited_ns = waited_ns, run_delay_ns(bridge.pid)
                result.windows.append(
                    Window(
                        next_window - WINDOW_S - started,
                        len(loads),
                        len(result.refusals),
                        proc.cpu_percent(),
                        float(health.metadata.get("cpu_busy_percent", 0)),
                        (waited_ns - waited_before) / 1e6 / WINDOW_S,
                    )
                )
                next_window += WINDOW_S
        await go_expect(devices, "done")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for load in loads:
            load.stream.cancel()
        await client.aclose()
        devices.kill()
        bridge.stop()
    result.joined, result.refused = len(loads), len(result.refusals)
    latencies_by_window = _latencies(loads, started)
    for index, window in enumerate(result.windows):
        ms = latencies_by_window.get(index, [])
        if ms:
            window.p50_ms, window.p99_ms = percentile(ms, 50), percentile(ms, 99)
            window.chunks = len(ms)
    in_hold = [i for i, w in enumerate(result.windows) if w.start_s >= n * every]
    hold_ms = [v for i in in_hold for v in latencies_by_window.get(i, [])]
    if hold_ms:
        result.hold_p50_ms, result.hold_p99_ms = percentile(hold_ms, 50), percentile(hold_ms, 99)
        result.hold_worst_p99_ms = max(result.windows[i].p99_ms for i in in_hold)
        result.hold_cpu_percent = sum(result.windows[i].cpu_percent for i in in_hold) / len(in_hold)
    late = [v for load in loads for v in load.late_ms] + read_go_report(report)[0]
    result.generator_late_p99_ms = percentile(late, 99) if late else 0.0
    return result


def _latencies(loads: list[SessionLoad], started: float) -> dict[int, list[float]]:
    """Device -> cloud ms of every chunk, by the 5 s window it arrived in."""
    wall_started = time.time_ns() - int((time.monotonic() - started) * 1e9)
    windows: dict[int, list[float]] = {}
    for load in loads:
        for sent, arrived in load.arrivals:
            if sent:
                index = int((arrived - wall_started) / 1e9 // WINDOW_S)
                windows.setdefault(index, []).append((arrived - sent) / 1e6)
    return windows


def print_run(result: RunResult, every: float) -> None:
    print(f"\n{result.name}: {result.joined} joined, {result.refused} refused", end="")
    if result.first_refused_at is not None:
        print(f" (the first: user {result.first_refused_at}, '{result.refusals[0]}')", end="")
    print(
        f"\n  hold: device -> cloud p50 {result.hold_p50_ms:.1f} ms, p99 {result.hold_p99_ms:.1f} "
        f"ms (worst window {result.hold_worst_p99_ms:.1f}), bridge CPU "
        f"{result.hold_cpu_percent:.0f} % of a core; generator late p99 "
        f"{result.generator_late_p99_ms:.1f} ms"
    )
    print(
        "  | s | held | refused | bridge CPU % | busy % (its own) | waited for a CPU ms/s "
        "| p50 ms | p99 ms |"
    )
    print("  |---|---|---|---|---|---|---|---|")
    for w in result.windows:
        print(
            f"  | {w.start_s:.0f} | {w.held} | {w.refused} | {w.cpu_percent:.0f} | "
            f"{w.busy_percent:.0f} | {w.waited_ms_per_s:.0f} | {w.p50_ms:.1f} | {w.p99_ms:.1f} |"
        )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=30, help="users that try to join")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between joins")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds after the last join")
    parser.add_argument("--repeat", type=int, default=1, help="alternated runs of each variant")
    parser.add_argument("--pin", action="store_true", help="the bridge alone on CPU 0")
    parser.add_argument(
        "--variant",
        action="append",
        help="`lkbridge serve` flags of one setting (repeat; --variant= for the defaults)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser


async def main() -> None:
    args = parser().parse_args()
    settings = Settings(bridge_cpu=pin_bridge_core() if args.pin else None)
    results: list[RunResult] = []
    with LiveKitServer(LiveKitConfig()) as livekit:
        for attempt in range(args.repeat):
            for flags in args.variant or [""]:
                print(f"running {flags or 'defaults'} (#{attempt + 1}) ...", file=sys.stderr)
                results.append(await run(args, settings, livekit, flags))
    for result in results:
        print_run(result, args.every)
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    netns.reexec_inside()
    asyncio.run(main())

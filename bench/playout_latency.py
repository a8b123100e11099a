"""Cloud -> room one-way latency: through the bridge against the SDK alone, in one invocation.

Each arm streams the same audio (bench/workload.py: speech turns or tone bursts) in real-time
100 ms chunks onto a `speaker` track in a fresh room, where a fresh device (the SDK peer of the
tests) records what it hears; the latency of a turn is its first loud frame sent -> the first
loud frame heard (`bench/workload.py`, `onset_latencies`). The arms:

- `sdk`: an SDK participant captures the chunks straight into an AudioSource (queue 1000 ms, the
  bridge's publish options): the floor any bridge on this SDK stands on;
- `bridge` (one per `--bridge` set of `lkbridge serve` flags): the chunks go through
  `lkbridge.client` -> the bridge -> its AudioSource.

The arms alternate, `--rounds` times, so a busy moment of a shared machine falls on all of them.
Beside the latency each arm prints the source queue a chunk's first frame found (the backlog it
waits behind; the bridge's HealthCheck `latency_queue`, the SDK arm's own `queued_duration`),
and the bridge's gRPC -> `capture_frame` part (`latency_in`). What is left, the source's 10 ms
timer, the Opus encoder's 20 ms frames, the SFU and the device's jitter buffer, is the same in
every arm.

    sudo .venv/bin/python -m bench.playout_latency --duration 40 --rounds 3 \\
        --bridge= --bridge=--catch-up-ms=0

Run as root it enters the project's network namespace by itself. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from livekit import rtc

from bench.sessions import start_bridge
from bench.workload import CONTENTS, Content, Workload, inbound_audio, onset_latencies, workload
from lkbridge.audio.pcm import Int16Array, to_bytes
from lkbridge.client import BridgeClient
from lkbridge.devstack import netns
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.tokens import mint_token
from lkbridge.percentiles import percentile
from lkbridge.server.config import DEFAULT_PUBLISH_BITRATE
from lkbridge.server.rtc.runtime import route_own_events

RATE = 16000
CHUNK_MS = 100
CHUNK = RATE * CHUNK_MS // 1000
SKIP_S = 2.5  # the bridge holds a new track's first audio (<= 2 s) for its subscriber


@dataclass
class Arm:
    label: str
    flags: tuple[str, ...] | None  # None: the SDK alone
    latencies_ms: list[float] = field(default_factory=list)
    # SDK alone: each turn's latency less the queue its first chunk found (the floor proper)
    unqueued_ms: list[float] = field(default_factory=list)
    queue_p50_ms: list[float] = field(default_factory=list)  # per round
    queue_p99_ms: list[float] = field(default_factory=list)
    in_p50_ms: list[float] = field(default_factory=list)
    jitter_ms: list[float] = field(default_factory=list)  # the device's jitter buffer, per round


Send = Callable[[Int16Array], Awaitable[None]]


async def pace(audio: Workload, seconds: float, send: Send, sent_at: list[float]) -> None:
    """Real-time chunks: chunk i goes out at start + i x 100 ms, as the benchmark clients do."""
    start = time.monotonic()
    for i in range(int(seconds * 1000 / CHUNK_MS)):
        sent_at.append(time.monotonic())
        await send(audio.client[i * CHUNK : (i + 1) * CHUNK])
        await asyncio.sleep(max(0.0, start + (i + 1) * CHUNK_MS / 1000 - time.monotonic()))


async def sdk_arm(
    cfg: LiveKitConfig, room: str, audio: Workload, seconds: float
) -> tuple[list[tuple[int, float]], list[float], float]:
    """The floor: an SDK participant publishing the chunks itself.

    Returns (chunk index, latency ms) per turn, the ms queued ahead of each chunk and the
    device's jitter-buffer delay.
    """
    device = DevicePeer(cfg.url, mint_token(cfg.api_key, cfg.api_secret, room, "device"))
    await device.connect()
    publisher = rtc.Room()
    await publisher.connect(cfg.url, mint_token(cfg.api_key, cfg.api_secret, room, "cloud-sdk"))
    route_own_events(publisher)
    source = rtc.AudioSource(RATE, 1, queue_size_ms=1000)
    try:
        track = rtc.LocalAudioTrack.create_audio_track("speaker", source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        options.audio_encoding.max_bitrate = DEFAULT_PUBLISH_BITRATE
        await publisher.local_participant.publish_track(track, options)
        await device.wait_for_track("speaker")
        queued: list[float] = []

        async def send(samples: Int16Array) -> None:
            queued.append(source.queued_duration * 1000)
            await source.capture_frame(rtc.AudioFrame(to_bytes(samples), RATE, 1, len(samples)))

        sent_at: list[float] = []
        await pace(audio, seconds, send, sent_at)
        await asyncio.sleep(1.0)
        return heard_latencies(device, audio, sent_at), queued, await jitter_buffer_ms(device)
    finally:
        await source.aclose()
        await publisher.disconnect()
        await device.aclose()


async def bridge_arm(
    cfg: LiveKitConfig, room: str, audio: Workload, seconds: float, flags: tuple[str, ...]
) -> tuple[list[tuple[int, float]], dict[str, float]]:
    """Through `lkbridge serve FLAGS`: (latencies, the bridge's latency_* figures)."""
    bridge = await asyncio.to_thread(start_bridge, extra=flags)
    client = BridgeClient(bridge.target)
    device = DevicePeer(cfg.url, mint_token(cfg.api_key, cfg.api_secret, room, "device"))
    try:
        await device.connect()
        token = mint_token(cfg.api_key, cfg.api_secret, room, "cloud-agent:u0")
        joined = await client.join("u0", token=token, livekit_url=cfg.url, target_identity="device")
        if not joined.success:
            raise RuntimeError(joined.error)
        stream = client.stream("u0")
        await stream.open()

        async def send(samples: Int16Array) -> None:
            await stream.send(to_bytes(samples))

        sent_at: list[float] = []
        await pace(audio, seconds, send, sent_at)
        await asyncio.sleep(1.0)
        health = await client.health()
        figures = {k: float(v) for k, v in health.metadata.items() if k.startswith("latency_")}
        figures["jitter_buffer_ms"] = await jitter_buffer_ms(device)
        stream.cancel()
        await client.leave("u0")
        return heard_latencies(device, audio, sent_at), figures
    finally:
        await device.aclose()
        await client.aclose()
        await asyncio.to_thread(bridge.stop)


async def jitter_buffer_ms(device: DevicePeer) -> float:
    """The device's mean jitter-buffer delay over the run (inbound RTP stats): the receiver's
    part of every arm's latency, which moves with how busy the machine was."""
    inbound = await inbound_audio(device.room)
    delay = sum(stats.jitter_buffer_delay for stats in inbound)
    emitted = sum(stats.jitter_buffer_emitted_count for stats in inbound)
    return delay / emitted * 1000 if emitted else float("nan")


def heard_latencies(
    device: DevicePeer, audio: Workload, sent_at: list[float]
) -> list[tuple[int, float]]:
    recording = device.recordings.get("speaker")
    if recording is None:
        return []
    heard = list(zip(recording.parts, recording.arrivals, strict=True))
    return onset_latencies(heard, audio.client_onsets, sent_at, CHUNK, SKIP_S)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=40.0, help="seconds per arm and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--content", choices=CONTENTS, default="speech")
    parser.add_argument(
        "--bridge",
        action="append",
        help='`lkbridge serve` flags of one bridge arm (repeat; "" is the defaults)',
    )
    parser.add_argument("--verbose", action="store_true", help="each turn's latency, each arm")
    parser.add_argument("--no-sdk", action="store_true", help="leave out the SDK-alone arm")
    args = parser.parse_args()
    content: Content = args.content
    audio = workload(content, args.duration, CHUNK_MS)
    arms = [] if args.no_sdk else [Arm("SDK alone", None)]
    arms += [
        Arm(f"bridge {flags or '(defaults)'}", tuple(shlex.split(flags)))
        for flags in args.bridge or [""]
    ]
    with LiveKitServer(LiveKitConfig()) as livekit:
        for round_no in range(args.rounds):
            for index, arm in enumerate(arms):
                print(f"round {round_no + 1}/{args.rounds}: {arm.label} ...", file=sys.stderr)
                await run_arm(arm, livekit.config, f"playout-{round_no}-{index}", audio, args)
    print(f"\n{content}, {args.rounds} rounds of {args.duration:.0f} s, arms alternated\n")
    print_table(arms)


async def run_arm(
    arm: Arm, cfg: LiveKitConfig, room: str, audio: Workload, args: argparse.Namespace
) -> None:
    if arm.flags is None:
        turns, queued, jitter = await sdk_arm(cfg, room, audio, args.duration)
        arm.jitter_ms.append(jitter)
        steady = queued[int(SKIP_S * 1000 / CHUNK_MS) :]
        arm.queue_p50_ms.append(percentile(steady, 50))
        arm.queue_p99_ms.append(percentile(steady, 99))
        arm.unqueued_ms.extend(ms - queued[index] for index, ms in turns)
    else:
        turns, figures = await bridge_arm(cfg, room, audio, args.duration, arm.flags)
        arm.queue_p50_ms.append(figures.get("latency_queue_p50_ms", float("nan")))
        arm.queue_p99_ms.append(figures.get("latency_queue_p99_ms", float("nan")))
        arm.in_p50_ms.append(figures.get("latency_in_p50_ms", float("nan")))
        arm.jitter_ms.append(figures["jitter_buffer_ms"])
    arm.latencies_ms.extend(ms for _, ms in turns)
    if args.verbose:
        print(f"  turns (ms): {' '.join(f'{ms:.0f}' for _, ms in turns)}", file=sys.stderr)


def print_table(arms: list[Arm]) -> None:
    print(
        "| arm | turns | client -> device p50 / p95 / max ms"
        " | queue ahead of a chunk p50 / p99 ms, per round | gRPC -> capture p50 ms"
        " | device jitter buffer ms, per round |"
    )
    print("|---|---|---|---|---|---|")
    for arm in arms:
        rows = [(arm.label, arm.latencies_ms)]
        if arm.unqueued_ms:
            rows.append((f"{arm.label}, its own queue taken out", arm.unqueued_ms))
        queue = ", ".join(
            f"{a:.1f} / {b:.1f}" for a, b in zip(arm.queue_p50_ms, arm.queue_p99_ms, strict=True)
        )
        grpc_in = " / ".join(f"{v:.2f}" for v in arm.in_p50_ms) or "-"
        jitter = " / ".join(f"{v:.0f}" for v in arm.jitter_ms)
        for label, lat in rows:
            print(
                f"| {label} | {len(lat)} | {percentile(lat, 50):.1f} / {percentile(lat, 95):.1f} / "
                f"{max(lat, default=float('nan')):.1f} | {queue} | {grpc_in} | {jitter} |"
            )
            queue, grpc_in, jitter = "", "", ""
    floor = next((arm.unqueued_ms for arm in arms if arm.unqueued_ms), [])
    for arm in arms:
        if floor and arm.flags is not None and arm.latencies_ms:
            gap = statistics.median(arm.latencies_ms) - statistics.median(floor)
            print(f"{arm.label}: p50 {gap:+.1f} ms against the SDK alone without its queue")


if __name__ == "__main__":
    netns.reexec_inside()
    asyncio.run(main())

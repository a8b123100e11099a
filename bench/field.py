"""Speech quality in the field: one leg lossy, scored with PESQ wideband, both bridges.

One leg at a time is impaired (lkbridge/devstack/impair.py: a namespace of its own behind
nftables drops, since this kernel has no netem): `device` puts the device peer in it (bridge <->
SFU clean, SFU <-> device lossy: the field), `bridge` puts the bridge there instead (the reverse).
Each run: the cloud (a gRPC client here) joins and streams ~13 s of espeak speech onto the speaker
track while the device speaks stamped data packets back; the device records what it hears. The
recording is aligned on the sent speech (envelope cross-correlation) and scored with PESQ-WB
(`pesq` from PyPI); the device -> cloud path gives its latency (stamp -> gRPC receive) and its
holes (sequence numbers never received). STOI is left out: the bridge shortens pauses to give a
backlog back (--catch-up-ms), which shifts words in time and would be scored as distortion.

    sudo .venv/bin/python -m bench.field --loss 0 5 10 --burst --repeat 2 \
        --variant= --variant=--publish-bitrate=0 --go-bridge /path/to/go-bridge
    sudo .venv/bin/python -m bench.field --loss 0 5 --jitter 0 30 --repeat 2
    sudo .venv/bin/python -m bench.field --loss 0 5 10 --workload url --repeat 2

Jitter (`--jitter 30`): the field link is shaped with htb and cross traffic queues ahead of the
media (lkbridge/devstack/crosstraffic.py, no netem here); the jitter it made is measured by its
probes and by the device's receiver and printed beside the nominal figure. `--workload url`:
the cloud plays the same speech as a WAV by PlayAudio from a local HTTP server instead of
streaming it.

`--go-bridge` runs a binary of the Go bridge (built from its own repository, outside this one)
beside ours in the same invocation, alternated. Run as root: it enters the project's namespace
by itself. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from bench.gobridge import check_binary, go_client, open_stream, start_go_bridge, stop_child
from bench.workload import ASSISTANT_LINES, USER_LINES, envelope
from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.audio.pcm import Int16Array, to_bytes
from lkbridge.client import BridgeClient
from lkbridge.devstack import bridge as launcher
from lkbridge.devstack import netns
from lkbridge.devstack.crosstraffic import CrossProfile
from lkbridge.devstack.files import FileServer
from lkbridge.devstack.impair import BurstProfile, FieldNet, enter_netns
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.speech import speech
from lkbridge.devstack.stamp import read_stamp, stamp
from lkbridge.devstack.tokens import mint_token
from lkbridge.percentiles import percentile

RATE = 16000
CHUNK = 1600  # 100 ms, what the cloud and the glasses send
SPEECH_S = 13.0
BURST = BurstProfile()


@dataclass
class FieldResult:
    bridge: str  # "py <flags>" or "go"
    leg: str  # which side sat behind the loss: device or bridge
    impairment: str  # "loss 5%" or "burst ~5.6%"
    workload: str  # "stream" (StreamAudio) or "url" (PlayAudio of a WAV)
    jitter_ms: float  # the nominal jitter: the largest cross-traffic burst's drain time
    link_jitter: str  # measured by the probes: RFC 3550 jitter, delay p95 above min (ms), down
    rx_jitter_ms: float  # the device receiver's RTP jitter (its get_stats), the speaker track
    pesq_wb: float
    heard_s: float
    rtp_lost_percent: float  # what the device's receiver counted lost, before any repair
    kbps: float  # the speaker track's payload at the device (its last publication)
    device_to_cloud_p50_ms: float
    device_to_cloud_p99_ms: float
    holes: int  # device packets the cloud never received
    packets: int
    error: str = ""  # a run that could not play (e.g. the bridge failed the URL)


def script(lines: tuple[str, ...], seconds: float) -> tuple[Int16Array, list[tuple[int, int]]]:
    """Lines spoken one after another (0.4 s apart) up to `seconds`, and each line's span."""
    parts, spans, total = [], [], 0
    for i in range(100):
        said = speech(lines[i % len(lines)], RATE)
        if said is None:
            raise SystemExit("espeak-ng is needed (scripts/setup.sh installs it)")
        said = said[: max(0, int(seconds * RATE) - total)]
        spans.append((total, total + len(said)))
        parts += [said, np.zeros(int(0.4 * RATE), np.int16)]
        total += len(said) + int(0.4 * RATE)
        if total >= seconds * RATE:
            break
    return np.concatenate(parts)[: int(seconds * RATE)], spans


def aligned(sent: Int16Array, heard: Int16Array) -> Int16Array:
    """`heard` cut to where `sent` sits in it (envelope lag), as long as `sent`."""
    a, b = envelope(sent, 10), envelope(heard, 10)
    if len(b) < len(a) or not a.any():
        return np.zeros(len(sent), np.int16)
    fit = np.correlate(b - b.mean(), a - a.mean(), "valid")
    lag = int(np.argmax(fit)) * RATE // 100
    out = np.zeros(len(sent), np.int16)
    part = heard[lag : lag + len(sent)]
    out[: len(part)] = part
    return out


def pesq_wb(sent: Int16Array, spans: list[tuple[int, int]], heard: Int16Array) -> float:
    """PESQ wideband of what the device heard against what the cloud sent (1.0: nothing),
    line by line, each aligned on its own (the bridge may shorten a pause between lines to
    give a backlog back, which one alignment for the whole recording would score as damage);
    the lines' scores weighted by their lengths."""
    from pesq import NoUtterancesError, pesq

    pad = RATE // 5  # 200 ms of the pause each side: PESQ wants silence around speech
    total = weight = 0.0
    for first, last in spans:
        line = sent[max(0, first - pad) : last + pad]
        try:
            score = float(pesq(RATE, line, aligned(line, heard), "wb"))
        except NoUtterancesError:
            score = 1.0
        total += score * len(line)
        weight += len(line)
    return round(total / weight, 2) if weight else 1.0


# -- the device, a process of its own (in the field namespace for the device leg) -----------------


def device_main(conn: Connection, field: str | None, url: str, token: str, seconds: float) -> None:
    if field is not None:
        enter_netns(field)  # before the SDK starts a thread
    asyncio.run(_device(conn, url, token, seconds))


async def _device(conn: Connection, url: str, token: str, seconds: float) -> None:
    from lkbridge.devstack.device import DevicePeer

    device = DevicePeer(url, token)
    await device.connect()
    said, _ = script(USER_LINES, seconds)
    conn.send("ready")
    await asyncio.to_thread(conn.recv)  # "go"
    start = time.monotonic()
    for seq in range(len(said) // CHUNK):
        chunk = to_bytes(said[seq * CHUNK : (seq + 1) * CHUNK])
        await device.room.local_participant.publish_data(
            device.packetize(stamp(chunk, seq, time.time_ns())), reliable=True
        )
        await asyncio.sleep(max(0.0, start + (seq + 1) * 0.1 - time.monotonic()))
    await asyncio.to_thread(conn.recv)  # "stop"
    name = heard_track(device)
    heard = [r for r in device.earlier_recordings if r.name == name]
    if name in device.recordings:
        heard.append(device.recordings[name])
    samples = np.concatenate([r.samples() for r in heard]) if heard else np.zeros(0, np.int16)
    lost = received = payload = 0
    jitter = 0.0
    for participant in device.room.remote_participants.values():  # the last publication's
        for publication in participant.track_publications.values():
            for stats in await publication.track.get_stats() if publication.track else []:
                if stats.WhichOneof("stats") == "inbound_rtp":
                    lost += stats.inbound_rtp.received.packets_lost
                    received += stats.inbound_rtp.received.packets_received
                    payload += stats.inbound_rtp.inbound.bytes_received
                    jitter = max(jitter, stats.inbound_rtp.received.jitter)
    seconds = time.monotonic() - heard[-1].subscribed_at if heard else 1.0
    kbps = round(payload * 8 / 1000 / max(seconds, 1e-3), 1)
    lost_percent = round(100 * lost / max(1, lost + received), 1)
    conn.send((samples.tobytes(), lost_percent, kbps, round(jitter * 1000, 1)))
    await device.aclose()


def heard_track(device: object) -> str:
    """The track the cloud's speech came on: `speaker`, else the one with the most audio (a
    bridge may play a URL on a track of another name)."""
    recordings = getattr(device, "recordings", {})
    if "speaker" in recordings or not recordings:
        return "speaker"
    return str(max(recordings.values(), key=lambda r: sum(len(p) for p in r.parts)).name)


def start_cross_traffic(field: FieldNet, profile: CrossProfile, seed: int) -> subprocess.Popen[str]:
    """The cross-traffic process through the shaped field link; it dies with this process."""
    from lkbridge.procs import die_with_parent, python_module

    proc = subprocess.Popen(
        [*die_with_parent(), *python_module(
            "lkbridge.devstack.crosstraffic", "--field", field.name, "--parent", field.parent,
            "--field-ip", field.ip, "--parent-ip", field.outer_ip, "--seed", str(seed),
            "--rate-kbit", str(profile.rate_kbit), "--max-delay-ms", str(profile.max_delay_ms),
            "--mean-gap-ms", str(profile.mean_gap_ms), "--max-seconds", "300")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the cross-traffic process did not start")
    return proc


def stop_cross_traffic(proc: subprocess.Popen[str] | None) -> str:
    """End it; its measured jitter each way, 'down' (parent -> field) first."""
    if proc is None:
        return ""
    try:
        out, _ = proc.communicate("", timeout=15)
        report = {d["direction"]: d for d in json.loads(out.strip().splitlines()[-1])}
    except (subprocess.TimeoutExpired, ValueError, IndexError, KeyError):
        proc.kill()
        return "?"
    down, up = report["parent->field"], report["field->parent"]
    return (f"down {down['rfc3550_ms']:.1f}/{down['p95_ms']:.0f}/{down['max_ms']:.0f} "
            f"up {up['rfc3550_ms']:.1f}/{up['p95_ms']:.0f}/{up['max_ms']:.0f}")  # fmt: skip


def cross_profile(jitter_ms: float) -> CrossProfile:
    """The cross traffic of a nominal jitter; at 0 no filler (the link is left unshaped), and
    with `--link-probes` the probes still run: what they measure then is the measurement's own
    floor (the generator's threads waking late on a busy machine), to read the jittered figures
    against."""
    return CrossProfile(max_delay_ms=jitter_ms)


def write_wav(path: Path, samples: Int16Array) -> None:
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(to_bytes(samples))


# -- the bridges -----------------------------------------------------------------------------


def start_bridge(
    kind: str, flags: str, prefix: list[str], sock: Path, cfg: LiveKitConfig, go_binary: Path | None
) -> subprocess.Popen[str]:
    if kind == "go":
        assert go_binary is not None
        return start_go_bridge(go_binary, sock, cfg, prefix)
    served = launcher.start_bridge(
        "--socket", str(sock), "--no-tcp", "--log-level", "warning", *shlex.split(flags),
        prefix=prefix,
    )  # fmt: skip
    child: subprocess.Popen[str] = served.proc
    return child


async def run_one(
    kind: str,
    flags: str,
    leg: str,
    impairment: str,
    field: FieldNet,
    cfg: LiveKitConfig,
    go_binary: Path | None,
    tag: str,
    jitter_ms: float = 0.0,
    workload: str = "stream",
    save: Path | None = None,
    probes: bool = False,
) -> FieldResult:
    room = f"field-{tag}"
    sock = Path(tempfile.mkdtemp(prefix="lkb-field-")) / "bridge.sock"
    profile = cross_profile(jitter_ms)
    field.set_rate(profile.rate_kbit if jitter_ms > 0 else None)
    cross: subprocess.Popen[str] | None = None
    files: FileServer | None = None
    bridge = start_bridge(
        kind, flags, field.exec_prefix() if leg == "bridge" else [], sock, cfg, go_binary
    )
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    device_token = mint_token(cfg.api_key, cfg.api_secret, room, "device")
    device = ctx.Process(
        target=device_main,
        args=(there, field.name if leg == "device" else None, cfg.url, device_token, SPEECH_S),
    )
    device.start()
    client = go_client(f"unix:{sock}") if kind == "go" else BridgeClient(f"unix:{sock}")
    try:
        await asyncio.to_thread(here.recv)  # "ready"
        print("  device ready", file=sys.stderr)
        token = mint_token(cfg.api_key, cfg.api_secret, room, "cloud-agent:field")
        joined = await client.join(
            "field", token=token, livekit_url=cfg.url, target_identity="device"
        )
        if not joined.success:
            raise RuntimeError(f"join: {joined.error}")
        stream = client.stream("field")
        await open_stream(stream, kind == "go")
        said, spans = script(ASSISTANT_LINES, SPEECH_S)
        if workload == "url":
            write_wav(sock.parent / "speech.wav", said)
            # the SFU's address in lkb: the bridge reaches it from either side of the field
            files = FileServer(sock.parent, host=cfg.bind_address)
            files.start()
        if jitter_ms > 0 or probes:
            cross = start_cross_traffic(field, profile, seed=hash(tag) & 0xFFFF)
        if impairment.startswith("burst"):
            field.start_bursts(BURST, seed=hash(tag) & 0xFFFF)
        else:
            field.set_loss(float(impairment.split()[1].rstrip("%")))
        latencies: list[float] = []
        seqs: set[int] = set()

        async def receive() -> None:
            while (chunk := await stream.receive()) is not None:
                stamped = read_stamp(chunk.pcm_data)
                if stamped is not None:
                    latencies.append((time.time_ns() - stamped[1]) / 1e6)
                    seqs.add(stamped[0])

        receiver = asyncio.create_task(receive())
        print("  streaming", file=sys.stderr)
        here.send("go")
        error = ""
        if files is not None:
            async for event in client.play("field", files.url_of("speech.wav"), request_id=tag):
                if event.type == pb.PlayAudioEvent.FAILED:
                    error = f"PlayAudio FAILED: {event.error}"
        else:
            start = time.monotonic()
            for i in range(0, len(said), CHUNK):
                await stream.send(to_bytes(said[i : i + CHUNK]))
                await asyncio.sleep(max(0.0, start + (i // CHUNK + 1) * 0.1 - time.monotonic()))
        for _ in range(20):  # 2 s of silence: the tail plays out, late packets arrive
            await stream.send(to_bytes(np.zeros(CHUNK, np.int16)))
            await asyncio.sleep(0.1)
        field.stop_bursts()
        field.set_loss(0)
        link_jitter = stop_cross_traffic(cross)
        cross = None
        print("  stopping", file=sys.stderr)
        here.send("stop")
        pcm, rtp_lost, kbps, rx_jitter = await asyncio.to_thread(here.recv)
        heard = np.frombuffer(pcm, np.int16)
        if save is not None:  # what the device heard, to listen to or look at
            await asyncio.to_thread(write_wav, save / f"{kind}-{workload}-{tag}.wav", heard)
        receiver.cancel()
        stream.cancel()
        await client.leave("field")
        expected = int(SPEECH_S * 10)
        return FieldResult(
            bridge=f"{kind} {flags}".strip(),
            leg=leg,
            impairment=impairment,
            workload=workload,
            jitter_ms=jitter_ms,
            link_jitter=link_jitter,
            rx_jitter_ms=rx_jitter,
            pesq_wb=pesq_wb(said, spans, heard),
            heard_s=round(len(heard) / RATE, 1),
            rtp_lost_percent=rtp_lost,
            kbps=kbps,
            device_to_cloud_p50_ms=round(percentile(latencies, 50), 1) if latencies else -1,
            device_to_cloud_p99_ms=round(percentile(latencies, 99), 1) if latencies else -1,
            holes=len(set(range(expected)) - seqs),
            packets=len(seqs),
            error=error,
        )
    finally:
        field.stop_bursts()
        field.set_loss(0)
        stop_cross_traffic(cross)
        field.set_rate(None)
        if files is not None:
            files.close()
        await client.aclose()
        device.join(timeout=20)
        if device.is_alive():
            device.kill()
        stop_child(bridge)
        shutil.rmtree(sock.parent, ignore_errors=True)


def print_table(results: list[FieldResult]) -> None:
    groups: dict[tuple[str, str, str, float, str], list[FieldResult]] = {}
    for r in results:
        groups.setdefault((r.leg, r.workload, r.impairment, r.jitter_ms, r.bridge), []).append(r)
    print(f"{'leg':7} {'work':6} {'impairment':13} {'jit':>3} {'bridge':28} {'PESQ-WB runs':18} "
          f"{'mean':>5} {'d->c p50/p99 ms':>16} {'holes':>6}  rx jitter ms; link jitter "
          "(RFC 3550/p95/max ms)")  # fmt: skip
    for (leg, workload, impairment, jitter, bridge), runs in groups.items():
        scores = " ".join(f"{r.pesq_wb:.2f}" for r in runs)
        mean = sum(r.pesq_wb for r in runs) / len(runs)
        lat = " ".join(
            f"{r.device_to_cloud_p50_ms:.0f}/{r.device_to_cloud_p99_ms:.0f}" for r in runs
        )
        holes = " ".join(str(r.holes) for r in runs)
        rx = " ".join(f"{r.rx_jitter_ms:.0f}" for r in runs)
        link = "; ".join(r.link_jitter for r in runs if r.link_jitter)
        errors = "; ".join(r.error for r in runs if r.error)
        print(f"{leg:7} {workload:6} {impairment:13} {jitter:3.0f} {bridge:28} {scores:18} "
              f"{mean:5.2f} {lat:>16} {holes:>6}  {rx}; {link} {errors}")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss", type=float, nargs="+", default=[0, 2, 5, 10], help="UDP loss %%")
    parser.add_argument("--burst", action="store_true", help=f"also outages: {BURST}")
    parser.add_argument(
        "--jitter", type=float, nargs="+", default=[0],
        help="nominal jitter ms: htb-shaped link with cross traffic (0: unshaped)",
    )  # fmt: skip
    parser.add_argument(
        "--workload", choices=("stream", "url"), default="stream",
        help="the cloud streams the speech (StreamAudio) or plays it as a WAV URL (PlayAudio)",
    )  # fmt: skip
    parser.add_argument("--leg", choices=("device", "bridge"), nargs="+", default=["device"])
    parser.add_argument(
        "--variant", action="append", help="our bridge's serve flags of one setting (repeat)"
    )
    parser.add_argument("--go-bridge", type=Path, help="a Go bridge binary to run beside ours")
    parser.add_argument("--repeat", type=int, default=2, help="alternated runs of each setting")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--save", type=Path, help="write each run's recording here as a WAV")
    parser.add_argument(
        "--link-probes", action="store_true",
        help="at jitter 0 too, measure the link's jitter (its floor) with the probes",
    )  # fmt: skip
    args = parser.parse_args()
    if args.go_bridge is not None:
        check_binary(args.go_bridge)
    bridges = [("py", flags) for flags in args.variant or [""]]
    if args.go_bridge is not None:
        bridges.append(("go", ""))
    impairments = [f"loss {x:g}%" for x in args.loss]
    if args.burst:
        impairments.append(f"burst ~{BURST.loss_percent:g}%")
    field = FieldNet.create()
    results: list[FieldResult] = []
    try:
        # signalling on the namespace's address, which the field reaches through its veth
        cfg = LiveKitConfig(bind_address=netns.Netns().ip)
        with LiveKitServer(cfg):
            for attempt in range(args.repeat):
                for impairment in impairments:
                    for jitter in args.jitter:
                        for leg in args.leg:
                            for n, (kind, flags) in enumerate(bridges):
                                label = (f"{kind} {flags} {leg} {args.workload} {impairment} "
                                         f"jitter {jitter:g} #{attempt + 1}")  # fmt: skip
                                print(f"running {label} ...", file=sys.stderr)
                                loss = impairment.split()[-1].strip("~%")
                                tag = f"{attempt}-{n}-{leg}-{loss}-j{jitter:g}"
                                result = await run_one(
                                    kind, flags, leg, impairment, field, cfg, args.go_bridge,
                                    tag, jitter, args.workload, args.save, args.link_probes,
                                )  # fmt: skip
                                print(f"  {result}", file=sys.stderr)
                                results.append(result)
    finally:
        field.delete()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    netns.reexec_inside()
    asyncio.run(main())

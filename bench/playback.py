"""Playback figures through the real SFU: time to first frame, interrupt latency, CPU.

    sudo .venv/bin/python -m bench.playback [--runs 20] [--long 60]

- PlayAudio call -> STARTED (the bridge emits STARTED right after capturing the first frame);
- StopAudio call -> response (the source's queue is cleared inside that call), and StopAudio
  call -> last loud frame heard by the device (adds the SFU path, about 50 ms here);
- CPU % of one core of the bridge process during a --long seconds MP3 playback.
As root it enters the project's network namespace by itself. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from bench.sessions import start_bridge
from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.client import BridgeClient
from lkbridge.devstack import netns
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.tokens import mint_token
from lkbridge.devstack.tonefile import make_tone_file
from lkbridge.percentiles import percentile


def last_loud_after(device: DevicePeer, since: float) -> float | None:
    recording = device.recordings.get("speaker")
    if recording is None:
        return None
    loud = [
        at
        for part, at in zip(recording.parts, recording.arrivals, strict=True)
        if at >= since and len(part) and float(np.sqrt(np.mean(part.astype(float) ** 2))) > 500
    ]
    return loud[-1] if loud else since


async def main(runs: int, long_s: float) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        LiveKitServer(LiveKitConfig()) as livekit,
    ):
        make_tone_file(Path(tmp) / "clip.mp3", 440, 3.0, channels=2)
        make_tone_file(Path(tmp) / "long.mp3", 523, long_s, channels=2)
        http = subprocess.Popen(
            [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", tmp],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert http.stdout is not None
        port = int(http.stdout.readline().split("port ")[1].split()[0])
        base = f"http://127.0.0.1:{port}"
        bridge = start_bridge()
        cfg = livekit.config
        try:
            device = DevicePeer(cfg.url, mint_token(cfg.api_key, cfg.api_secret, "pb", "device"))
            await device.connect()
            async with BridgeClient(bridge.target) as client:
                token = mint_token(cfg.api_key, cfg.api_secret, "pb", "cloud-agent:u")
                assert (await client.join("u", token=token, livekit_url=cfg.url)).success
                to_start, stop_rtt, to_silence = [], [], []
                for i in range(runs):
                    sent = time.monotonic()
                    events = client.play("u", f"{base}/clip.mp3", request_id=f"r{i}")
                    first = await anext(events)
                    assert first.type == pb.PlayAudioEvent.STARTED, first.error
                    to_start.append((time.monotonic() - sent) * 1000)
                    await asyncio.sleep(1.0)
                    stop_sent = time.monotonic()
                    await client.stop("u", request_id=f"r{i}")
                    stop_rtt.append((time.monotonic() - stop_sent) * 1000)
                    async for _ in events:
                        pass
                    await asyncio.sleep(0.5)
                    last = last_loud_after(device, stop_sent)
                    if last is not None:
                        to_silence.append((last - stop_sent) * 1000)
                proc = psutil.Process(bridge.pid)
                proc.cpu_percent()
                started = time.monotonic()
                async for event in client.play("u", f"{base}/long.mp3"):
                    if event.type == pb.PlayAudioEvent.FAILED:
                        raise RuntimeError(event.error)
                cpu = proc.cpu_percent()
                played = time.monotonic() - started
            await device.aclose()
        finally:
            bridge.stop()
            http.terminate()
    print(
        f"PlayAudio -> STARTED (first frame captured), {runs} runs: "
        f"p50 {percentile(to_start, 50):.1f} ms, p95 {percentile(to_start, 95):.1f} ms"
    )
    print(
        f"StopAudio call -> queue cleared (RTT): p50 {percentile(stop_rtt, 50):.1f} ms, "
        f"p95 {percentile(stop_rtt, 95):.1f} ms"
    )
    print(
        "StopAudio call -> last loud frame at the device: "
        f"p50 {percentile(to_silence, 50):.1f} ms, p95 {percentile(to_silence, 95):.1f} ms"
    )
    print(f"{long_s:.0f} s MP3 playback: {played:.1f} s wall, bridge CPU {cpu:.1f} % of one core")


if __name__ == "__main__":
    netns.reexec_inside()
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--long", type=float, default=60.0)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.long))

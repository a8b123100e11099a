"""pydub (ffmpeg subprocess, whole file) against PyAV streaming, on a 60 s MP3 served locally.

    .venv/bin/python -m bench.decoders [--seconds 60] [--runs 3]

Each measurement runs in a fresh process so peak RSS (ru_maxrss) and CPU (self + children, so
pydub's ffmpeg counts) belong to that decoder alone. Time to first audio: from the request to the
first 16 kHz mono samples in hand. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from lkbridge.devstack.tonefile import make_tone_file


def measure_pydub(url: str) -> dict[str, float]:
    from pydub import AudioSegment

    start = time.perf_counter()
    data = urllib.request.urlopen(url, timeout=30).read()
    segment = AudioSegment.from_file(io.BytesIO(data), format="mp3")
    segment = segment.set_frame_rate(16000).set_channels(1).set_sample_width(2)
    samples = segment.raw_data
    first = time.perf_counter() - start  # nothing is playable before the whole decode
    return {"first_audio_ms": first * 1000, "total_ms": first * 1000, "samples": len(samples) // 2}


def measure_av(url: str) -> dict[str, float]:
    from lkbridge.server.playback.decoded_url import DecodedUrl
    from lkbridge.server.policy.playback_url import FetchPolicy

    async def run() -> dict[str, float]:
        start = time.perf_counter()
        first = 0.0
        total = 0
        async with DecodedUrl(url, FetchPolicy()) as media:
            async for samples in media.chunks():
                if not first:
                    first = time.perf_counter() - start
                total += len(samples)
        return {
            "first_audio_ms": first * 1000,
            "total_ms": (time.perf_counter() - start) * 1000,
            "samples": total,
        }

    return asyncio.run(run())


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def one(kind: str, url: str) -> None:
    """CPU and RSS are counted from after the imports, which differ and are paid once."""
    if kind == "pydub":
        import pydub  # noqa: F401
    else:
        import lkbridge.server.playback.decoded_url  # noqa: F401
    cpu_before = _cpu()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = measure_pydub(url) if kind == "pydub" else measure_av(url)
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_s"] = _cpu() - cpu_before
    # pydub's ffmpeg child is a process of its own: its peak counts whole
    result["peak_rss_mb"] = (own.ru_maxrss - rss_before) / 1024
    result["child_peak_rss_mb"] = children.ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return
    with tempfile.TemporaryDirectory() as tmp:
        mp3 = Path(tmp) / "speech-like.mp3"
        make_tone_file(mp3, 440, args.seconds, channels=2, bitrate="128k")
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", tmp],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline().split("port ")[1].split()[0])
            url = f"http://127.0.0.1:{port}/{mp3.name}"
            print(f"{mp3.stat().st_size / 1e6:.2f} MB MP3, {args.seconds:.0f} s, {args.runs} runs")
            header = ("decoder", "first audio ms", "total ms", "CPU s", "+RSS MB", "child RSS MB")
            print("{:<8} {:>15} {:>10} {:>7} {:>8} {:>13}".format(*header))
            for kind in ("pydub", "av"):
                runs = [
                    json.loads(
                        subprocess.run(
                            [sys.executable, __file__, "--one", kind, url],
                            check=True, capture_output=True, text=True,
                        ).stdout
                    )
                    for _ in range(args.runs)
                ]  # fmt: skip
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                print(
                    f"{kind:<8} {med['first_audio_ms']:>15.0f} {med['total_ms']:>10.0f} "
                    f"{med['cpu_s']:>7.2f} {med['peak_rss_mb']:>8.1f} "
                    f"{med['child_peak_rss_mb']:>13.1f}"
                )
        finally:
            server.terminate()


if __name__ == "__main__":
    main()

"""A bounded, headless load run against a stack it starts itself, all on this machine.

    sudo .venv/bin/python loadtests/run.py --shape soak --users 10 --ramp-s 60 --plateau-s 1800 \\
        --out results/soak
    sudo .venv/bin/python loadtests/run.py --shape steps --users 20 --step-users 2 --step-s 60
    sudo .venv/bin/python loadtests/run.py --shape churn --users 5 --plateau-s 300

It starts livekit-server (in the project's network namespace: as root it enters it by itself),
`lkbridge serve`, loadtests/devices.py with one speaking device per room, and an HTTP server
for a short clip; runs locust headless with CSV and HTML output under --out; stops everything;
and exits with locust's code, non-zero when a gate fails (see --max-* in `locust --help` with
-f loadtests/locustfile.py). Traffic stays on loopback and the namespace; users and time are
bounded by the shape.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from lkbridge.devstack import netns
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.tonefile import make_tone_file

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=["soak", "steps", "churn"], default="soak")
    parser.add_argument("--users", type=int, default=5, help="plateau (or top step) users")
    parser.add_argument("--ramp-s", type=float, default=10.0)
    parser.add_argument("--plateau-s", type=float, default=60.0)
    parser.add_argument("--step-users", type=int, default=2)
    parser.add_argument("--step-s", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=Path("loadtest-results"))
    parser.add_argument("--livekit-port", type=int, default=0, help="0: a free port")
    parser.add_argument("--bridge-port", type=int, default=9190)
    parser.add_argument("gates", nargs="*", help="extra locust args, e.g. --max-p95-ms=300")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    config = (
        LiveKitConfig(port=args.livekit_port, udp_port=args.livekit_port + 2)
        if args.livekit_port
        else LiveKitConfig()
    )
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp, LiveKitServer(config) as livekit:
        clip = Path(tmp) / "clip.mp3"
        make_tone_file(clip, 500, 1.5)
        try:
            bridge = subprocess.Popen(
                [sys.executable, "-m", "lkbridge", "serve", "--port", str(args.bridge_port),
                 "--log-level", "warning"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(bridge)
            assert bridge.stdout is not None
            bridge.stdout.readline()  # "lkbridge listening on ..."
            devices = subprocess.Popen(
                [sys.executable, str(HERE / "devices.py"), "--url", config.url,
                 "--key", config.api_key, "--secret", livekit.config.api_secret,
                 "--rooms", str(args.users)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(devices)
            assert devices.stdout is not None
            devices.stdout.readline()  # "devices ready ..."
            http = subprocess.Popen(
                [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", tmp],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=False,
            )  # fmt: skip
            procs.append(http)
            assert http.stdout is not None
            port = int(http.stdout.readline().decode().split("port ")[1].split()[0])
            locust = [
                sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
                "--host", f"127.0.0.1:{args.bridge_port}",
                "--csv", str(args.out / "locust"), "--html", str(args.out / "report.html"),
                "--livekit-url", config.url, "--livekit-key", config.api_key,
                "--livekit-secret", livekit.config.api_secret, "--rooms", str(args.users),
                "--clip-url", f"http://127.0.0.1:{port}/clip.mp3",
                "--shape", args.shape, "--plateau-users", str(args.users),
                "--ramp-s", str(args.ramp_s), "--plateau-s", str(args.plateau_s),
                "--step-users", str(args.step_users), "--step-s", str(args.step_s),
                "--sample-csv", str(args.out / "bridge-samples.csv"),
                "--stop-timeout", "10", *args.gates,
            ]  # fmt: skip
            return subprocess.run(locust, cwd=HERE.parent, check=False).returncode
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    netns.reexec_inside()
    raise SystemExit(main())

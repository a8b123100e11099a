"""How fast the client-side commands start: `lkbridge --version` and `lkbridge health`.

    .venv/bin/python -m bench.cli_startup [--runs 15]

Starts a bridge (`lkbridge serve` on a Unix socket in a temporary directory), then runs each
command `--runs` times as a fresh process, as a Kubernetes exec probe does, and prints the wall
time (min / median / max) and the peak RSS of each run (ru_maxrss, from wait4). Also lists which
heavy packages `health` imports (it should import none of the server, the SDK or PyAV). Not a
test: it prints figures (docs/benchmarks.md). The machine's load shows in the max, not the min.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lkbridge.devstack.bridge import BridgeStartError, start_bridge

ROOT = Path(__file__).resolve().parent.parent
LKBRIDGE = ROOT / ".venv" / "bin" / "lkbridge"
HEAVY = (
    "lkbridge.server", "livekit.rtc", "livekit.api", "av", "numpy", "aiohttp", "rich", "typer",
    "pydantic",
)  # fmt: skip


def run_once(argv: list[str]) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, exit code) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, proc.returncode


def measure(name: str, argv: list[str], runs: int) -> None:
    results = [run_once(argv) for _ in range(runs)]
    codes = {code for _, _, code in results}
    times = sorted(t for t, _, _ in results)
    rss = sorted(r for _, r, _ in results)
    median = statistics.median(times)
    print(
        f"{name:<28} time min {times[0] * 1000:4.0f} ms  median {median * 1000:4.0f} ms  "
        f"max {times[-1] * 1000:4.0f} ms   RSS min {rss[0]:5.1f} MB  max {rss[-1]:5.1f} MB   "
        f"exit {sorted(codes)}"
    )


def heavy_imports(target: str) -> list[str]:
    """The heavy packages loaded by the very path the executable takes (entry.py)."""
    code = (
        "import sys\n"
        f"sys.argv = ['lkbridge', 'health', '--bridge', {target!r}]\n"
        "from lkbridge.cli.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    last = done.stderr.strip().splitlines()[-1:] or [""]
    return [m for m in last[0].split(",") if m]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lkb-bench-cli-") as tmp:
        sock = Path(tmp) / "bridge.sock"
        try:  # the console script, as a user runs it
            server = start_bridge(
                "--socket", str(sock), "--log-level", "warning", command=[str(LKBRIDGE)]
            )  # fmt: skip
        except BridgeStartError as exc:
            print(exc, file=sys.stderr)
            return 1
        with server:
            target = server.target
            print(f"{args.runs} runs each, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
            measure("python -c pass", [sys.executable, "-c", "pass"], args.runs)
            measure("lkbridge --version", [str(LKBRIDGE), "--version"], args.runs)
            measure("lkbridge health", [str(LKBRIDGE), "health", "--bridge", target], args.runs)
            measure(
                "lkbridge health --standard",
                [str(LKBRIDGE), "health", "--standard", "--bridge", target],
                args.runs,
            )
            heavy = heavy_imports(target)
            print(f"heavy packages imported by health: {', '.join(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What an idle `lkbridge serve` holds in memory before its first session, and what for.

    .venv/bin/python -m bench.idle_rss                       # both parts below
    .venv/bin/python -m bench.idle_rss --serve-arg=--workers=2

1. Imports: fresh interpreters import the server's dependencies one step at a time, in the
   order the server meets them, and print the RSS after each step (the step's cost on top of
   the previous ones) and, in another fresh interpreter each, the step alone over a bare one.
   "livekit native" is the SDK's native side started (`FfiClient.instance`: the library
   mapped, its runtime threads up), which importing `livekit.rtc` does not do.
2. Serve: a started `lkbridge serve --port 0` (no session, 2 s after it listens): its RSS
   (anonymous / file-backed), threads, the RSS of each mapped file grouped by package, and the
   top-level packages it imported (from `-X importtime`, self time summed).

Memory does not depend on the machine's load, so these figures hold on a busy machine. No
network: the SDK's native side starts without a LiveKit server. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from lkbridge.devstack.bridge import BridgeStartError, start_bridge

ROOT = Path(__file__).resolve().parent.parent

# (label, statements run in the child), cumulative, in the order `lkbridge serve` meets them.
STEPS: list[tuple[str, str]] = [
    ("numpy", "import numpy"),
    (
        "protobuf + grpc + health + reflection",
        "import grpc, grpc_health.v1.health, grpc_reflection.v1alpha.reflection",
    ),
    ("livekit.rtc (Python side)", "import livekit.rtc"),
    (
        "livekit native (FfiClient.instance)",
        "from livekit.rtc import _ffi_client; _ffi_client.FfiClient.instance",
    ),
    ("av (PyAV)", "import av"),
    ("soxr", "import soxr"),
    ("aiohttp", "import aiohttp, aiohttp.web"),
    ("psutil", "import psutil"),
    ("uvloop", "import uvloop"),
    ("typer + rich", "import typer, rich.console"),
    ("pydantic (typer coerces option values with it)", "import pydantic"),
    ("livekit.api + jwt (devstack tokens)", "import livekit.api, jwt"),
    (
        "lkbridge.server.grpc.server (the rest of the server)",
        "import lkbridge.server.grpc.server",
    ),
    ("lkbridge.cli.main (every CLI command)", "import lkbridge.cli.main"),
]

# the lab's launcher's command, with -X importtime (to stderr: a file, which never fills up)
SERVE = [sys.executable, "-I", "-X", "importtime", "-m", "lkbridge"]

CHILD = """
import sys, time
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
print(rss(), flush=True)
for code in sys.argv[1:]:
    exec(code)
    time.sleep(0.3)  # native threads settle
    print(rss(), flush=True)
"""


def child_rss(codes: list[str]) -> list[float]:
    """RSS MB of a fresh interpreter, then after each statement in turn."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *codes],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return [float(line) for line in out.split()]


def imports_table() -> None:
    cumulative = child_rss([code for _, code in STEPS])
    print(f"bare interpreter: {cumulative[0]:.1f} MB")
    print(f"{'step':<48} {'RSS after':>10} {'step adds':>10} {'alone':>8}")
    for i, (label, code) in enumerate(STEPS):
        bare, alone = child_rss([code])
        added = cumulative[i + 1] - cumulative[i]
        print(f"{label:<48} {cumulative[i + 1]:>10.1f} {added:>10.1f} {alone - bare:>8.1f}")


def status(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "Threads"):
            number = int(value.split()[0])
            fields[key] = number / 1024 if key != "Threads" else number
    return fields


def package_of(path: str) -> str:
    """A mapping's owner: the site-packages distribution dir, a system library, or the kind."""
    if not path:
        return "(anonymous)"
    if path.startswith("["):
        return path
    match = re.search(r"site-packages/([^/]+)", path)
    if match:
        return match.group(1).removesuffix(".libs").split(".cpython")[0]
    return Path(path).name


def rss_by_package(pid: int) -> dict[str, float]:
    """Rss of each mapping of `pid` (shared pages counted whole, as RSS counts them), in MB."""
    totals: dict[str, float] = {}
    owner = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            owner = package_of(head[5] if len(head) > 5 else "")
        elif head and head[0] == "Rss:":
            totals[owner] = totals.get(owner, 0.0) + int(head[1]) / 1024
    return totals


def imported_packages(importtime: str) -> Iterator[tuple[str, float]]:
    """Top-level packages in `-X importtime` output, with their summed self time (ms)."""
    spent: dict[str, float] = {}
    for line in importtime.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "self" in parts[0]:
            continue
        name = parts[2].strip().split(".")[0]
        spent[name] = spent.get(name, 0.0) + int(parts[0].split(":")[1]) / 1000
    yield from sorted(spent.items(), key=lambda kv: -kv[1])


def serve_report(args: list[str], settle_s: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w+", prefix="idle-rss-", suffix=".log") as stderr:
        try:
            bridge = start_bridge(
                "--port", "0", "--log-level", "warning", *args, command=SERVE, stderr=stderr
            )  # fmt: skip
        except BridgeStartError as exc:
            raise SystemExit(f"{exc} (its stderr: {stderr.name})") from None
        with bridge:
            time.sleep(settle_s)
            fields = status(bridge.pid)
            packages = rss_by_package(bridge.pid)
        address = bridge.target
        stderr.seek(0)
        err = stderr.read()
    print(f"\nlkbridge serve {' '.join(args)} on {address}, idle {settle_s:.0f} s after listening:")
    print(
        f"  RSS {fields['VmRSS']:.1f} MB (anonymous {fields['RssAnon']:.1f}, "
        f"file-backed {fields['RssFile']:.1f}), {fields['Threads']:.0f} threads"
    )
    print("  RSS by mapping owner, MB (>= 0.5):")
    for owner, mb in sorted(packages.items(), key=lambda kv: -kv[1]):
        if mb >= 0.5:
            print(f"    {mb:6.1f}  {owner}")
    loaded = list(imported_packages(err))
    shown = ", ".join(f"{name} {ms:.0f}" for name, ms in loaded if ms >= 5)
    print(f"  {len(loaded)} top-level packages imported; import time ms (>= 5): {shown}")
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve-arg", action="append", default=[], help="extra serve flag")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds idle before reading")
    parser.add_argument("--skip-imports", action="store_true", help="only the started server")
    parser.add_argument("--json", type=Path, help="also write the server's figures here")
    args = parser.parse_args()
    if not args.skip_imports:
        imports_table()
    fields = serve_report(args.serve_arg, args.settle)
    if args.json:
        args.json.write_text(json.dumps(fields, indent=2))


if __name__ == "__main__":
    main()

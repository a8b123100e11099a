"""What one invocation of bench/sessions.py is told: its flags, in one object passed down.

The benchmark used to keep these in ten module globals that `main()` rebound (and the spawned
load workers rebound again from their arguments); now `main()` builds a Settings from the
command line, each alternated variant is a `dataclasses.replace` of it, and every function that
needs a setting gets the object. Frozen and picklable: it crosses to the load workers as is.

Also how bench starts a Python child of its own (`python_child`): bench/ is not an installed
package, so its modules run as `python -m bench.X` from the checkout, never by editing sys.path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lkbridge.procs import python_module

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    chunk_ms: int = 100  # --chunk-ms: device packets and client chunks
    bridge_args: tuple[str, ...] = ()  # --bridge-arg: extra `lkbridge serve` flags
    load_nice: int = 0  # --load-nice: niceness of the load-generator processes
    client_nice: int = 0  # --client-nice: of the processes with the gRPC clients
    bridge_cpu: int | None = None  # --pin: the bridge alone on this CPU
    profile_dir: Path | None = None  # --profile: py-spy samples of the bridge while loaded
    trace_dir: Path | None = None  # --trace-captures: capture_frame timed in three points
    packets_dir: Path | None = None  # --trace-packets: device packets stamped on their way
    go_devices: bool = False  # --go-devices: rooms 1..N-1 get bench/godevices's devices
    spread_devices: bool = True  # --device-phase spread: Go device i starts i/N of a chunk later
    go_bridge: Path | None = None  # this run's bridge is the Go bridge (--go-bridge), not ours
    warmup_s: float = 2.0  # --warmup: every session's track published before the scored run

    @property
    def chunk(self) -> int:
        """Samples per chunk at 16 kHz."""
        return 16 * self.chunk_ms


def pin_bridge_core() -> int:
    """--pin: this process (and so the SFU and the load it starts) leaves CPU 0 to the bridge;
    returns the bridge's CPU."""
    others = set(range(1, os.cpu_count() or 1))
    if not others:
        raise SystemExit("--pin needs at least 2 CPUs")
    os.sched_setaffinity(0, others)
    return 0


def python_child(module: str, *args: str, source: Path | None = None
                 ) -> tuple[list[str], dict[str, str]]:  # fmt: skip
    """argv and environment of `python -P -m module args` that imports this checkout's bench/
    and lkbridge, or `source`'s first (--bridge-src: a checkout's own tracers go with its own
    bridge, whose internals they time). `-P`: the working directory is not on sys.path, so only
    PYTHONPATH's entries come before the installed packages."""
    path = [str(p) for p in (source, ROOT) if p is not None]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return python_module(module, *args), env

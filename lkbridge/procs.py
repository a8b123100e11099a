"""Child processes of the bridge and of the lab: tied to their parent, ready when they say so.

One helper for every child that must not outlive its parent (the dev stack's SFU, the bridge's
workers, the load test's locust and devices) and for every child that prints a ready line
(`lkbridge serve`'s listening line, the load test's devices, the clip server): the bridge's
worker pool, lkbridge/devstack/bridge.py and lkbridge/loadtest/stack.py all read it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import threading
from typing import Literal

ParentSignal = Literal["KILL", "TERM"]


class NotReady(RuntimeError):
    """A child ended, or fell silent past its timeout, before its ready line; it is killed.

    The message says which, with the last line it printed if any.
    """


def die_with_parent(signal: ParentSignal = "KILL") -> list[str]:
    """A command prefix that signals the child when its parent thread dies (no orphans).

    util-linux's setpriv sets PR_SET_PDEATHSIG and execs: no Python runs between fork and exec
    (a preexec_fn in a process with the SDK's and gRPC's threads can crash the child). The
    signal follows the thread that started the child, so start it from a long-lived thread (the
    main one), not from a worker pool. TERM lets the child say its last word (locust's summary).
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", signal, "--"] if setpriv else []


def python_module(module: str, *args: str) -> list[str]:
    """`python -P -m module args`: this interpreter running one of our modules, with nothing of
    the working directory on its sys.path. A plain `-m` puts the folder the user stands in first,
    and a folder named like the package there (the clone's parent folder holds `lkbridge/`)
    shadows the installed package: `ImportError: cannot import name ... (unknown location)`."""
    return [sys.executable, "-P", "-m", module, *args]


def wait_ready(proc: subprocess.Popen[str] | subprocess.Popen[bytes], ready: str,
               timeout: float) -> str:  # fmt: skip
    """Read the child's stdout up to its first line starting with `ready`; that line.

    Other lines before it are skipped. A child that exits first, or says nothing ready within
    `timeout` seconds, is killed and raises NotReady.
    """
    assert proc.stdout is not None
    timed_out = threading.Event()

    def give_up() -> None:  # unblocks the read below
        timed_out.set()
        _kill(proc)

    timer = threading.Timer(timeout, give_up)
    timer.daemon = True
    timer.start()
    last = ""
    try:
        for raw in proc.stdout:
            line = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            if line.startswith(ready):
                return line
            last = line.strip() or last
    finally:
        timer.cancel()
    _kill(proc)
    code = proc.wait()
    raise NotReady(_why(code, last, timeout if timed_out.is_set() else None))


async def wait_ready_async(proc: asyncio.subprocess.Process, ready: str, timeout: float) -> str:
    """`wait_ready` for a child of asyncio's."""
    assert proc.stdout is not None
    last = ""
    try:
        async with asyncio.timeout(timeout):
            while raw := await proc.stdout.readline():
                line = raw.decode(errors="replace")
                if line.startswith(ready):
                    return line
                last = line.strip() or last
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise NotReady(_why(await proc.wait(), last, timeout)) from None
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    raise NotReady(_why(await proc.wait(), last, None))


def _kill(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _why(code: int, last: str, timeout: float | None) -> str:
    said = f": {last!r}" if last else ""
    if timeout is not None:
        return f"no ready line within {timeout:g} s{said}"
    return f"exited with {code}{said}"

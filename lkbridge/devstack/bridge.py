"""`lkbridge serve` as a child of the lab: started, ready (its listening line read), stopped.

The one launcher of the benchmarks (bench/), the load test's stack (lkbridge/loadtest/stack.py), the
TypeScript tests' harness (devstack/harness.py) and the test suite: each used to start the
process and parse its first line itself. The child is `python -I -m lkbridge` by default:
isolated, so neither the caller's working directory nor PYTHONPATH can put another `lkbridge`
(or a stray `livekit.py`) in front of the installed one. Callers that mean another package pass
`command` (a venv's `lkbridge` console script, bench/packet_trace.py's tracer) and `env`.

    with start_bridge("--port", "0") as bridge:
        BridgeClient(bridge.target) ...

    async with await start_bridge_async("--port", "0") as bridge: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

from lkbridge.procs import NotReady, wait_ready, wait_ready_async
from lkbridge.server.config import LISTENING

SERVE: tuple[str, ...] = (sys.executable, "-I", "-m", "lkbridge")
START_TIMEOUT_S = 60.0  # a cold start on a loaded 2-core machine imports for several seconds
STOP_TIMEOUT_S = 15.0

Stderr = int | IO[Any] | None


class BridgeStartError(RuntimeError):
    """`lkbridge serve` did not come up; one line saying how (and its last words, if any)."""


def target_of(line: str) -> str:
    """The address in a listening line: `host:port` or `unix:PATH`."""
    return line[len(LISTENING) :].strip()


@dataclass
class BridgeProcess:
    """A started, listening `lkbridge serve`."""

    proc: subprocess.Popen[str]
    target: str  # what a BridgeClient dials
    line: str  # the listening line, as printed

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        """Signal it (SIGTERM: a clean stop), wait, SIGKILL past `timeout`; its exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> BridgeProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_bridge(
    *serve_args: str,
    command: Sequence[str] = SERVE,
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    stderr: Stderr = subprocess.DEVNULL,
    start_new_session: bool = False,
    timeout: float = START_TIMEOUT_S,
) -> BridgeProcess:
    """`[*prefix, *command, "serve", *serve_args]`, once it listens.

    `prefix`: e.g. procs.die_with_parent() or `taskset`. Raises BridgeStartError (the child
    killed) when it exits or stays silent past `timeout` instead.
    """
    proc = subprocess.Popen(
        [*prefix, *command, "serve", *serve_args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True,
        env=env, cwd=cwd, start_new_session=start_new_session,
    )  # fmt: skip
    try:
        line = wait_ready(proc, LISTENING, timeout)
    except NotReady as exc:
        proc.stdout.close()  # type: ignore[union-attr]
        raise BridgeStartError(f"lkbridge serve did not start: {exc}") from None
    return BridgeProcess(proc, target_of(line), line.strip())


@dataclass
class AsyncBridgeProcess:
    """A started, listening `lkbridge serve`, child of the running loop."""

    proc: asyncio.subprocess.Process
    target: str
    line: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        """Signal it, wait, SIGKILL past `timeout`; its exit code."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode  # type: ignore[return-value]

    async def __aenter__(self) -> AsyncBridgeProcess:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def start_bridge_async(
    *serve_args: str,
    command: Sequence[str] = SERVE,
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
    stderr: Stderr = subprocess.DEVNULL,
    timeout: float = START_TIMEOUT_S,
) -> AsyncBridgeProcess:
    """`start_bridge` for asyncio callers (the harness): the same command and readiness."""
    proc = await asyncio.create_subprocess_exec(
        *prefix, *command, "serve", *serve_args,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env,
    )  # fmt: skip
    try:
        line = await wait_ready_async(proc, LISTENING, timeout)
    except NotReady as exc:
        raise BridgeStartError(f"lkbridge serve did not start: {exc}") from None
    return AsyncBridgeProcess(proc, target_of(line), line.strip())

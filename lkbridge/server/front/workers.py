"""Session processes behind a front (`lkbridge serve --workers K`).

One Python process runs about ten streaming sessions before its event loop, shared with the
SDK's FFI callbacks, adds tail latency (docs/benchmarks.md). The front keeps the public address,
auth and TLS, and routes each user to one of K worker processes, each a plain bridge on a
private Unix socket. A user always lands on the same worker (a hash of user_id), so JoinRoom,
StreamAudio, PlayAudio and GetStatus of one user meet the same session. A worker that dies is
started again; its users' GetStatus then says disconnected and the cloud rejoins, as after any
bridge restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import tempfile
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from lkbridge.procs import NotReady, die_with_parent, python_module, wait_ready_async
from lkbridge.server.config import LISTENING, BridgeConfig

log = logging.getLogger(__name__)

CONFIG_ENV = "LKBRIDGE_WORKER_CONFIG"
RESTART_DELAY_S = 0.5
MAX_RESTART_DELAY_S = 10.0
START_TIMEOUT_S = 30.0
ON_CHANGE_TIMEOUT_S = 1.0


def worker_config(config: BridgeConfig, socket: str) -> BridgeConfig:
    """What a worker runs: the front's session settings, on a private socket, nothing public."""
    return dataclasses.replace(
        config,
        workers=1,
        host="",
        port=None,
        socket=socket,
        socket_mode=0o600,
        auth_token=None,
        tls=None,
        metrics_port=None,
        health_port=None,  # the front's health port answers for the process tree
        # the front's one channel carries every stream of the worker's users; the front
        # applies the per-client bounds itself
        max_streams_per_connection=config.max_calls,
        cpu_processes=config.workers,  # the cores are the workers' to share
    )


def shard_of(user_id: str, count: int) -> int:
    """The worker of a user: stable across restarts of the front and of the workers."""
    return zlib.crc32(user_id.encode()) % count


class WorkerPool:
    """K worker processes, started with the front's thread so they die with it (pdeathsig)."""

    def __init__(self, config: BridgeConfig) -> None:
        self._config = config
        self._dir = Path(tempfile.mkdtemp(prefix="lkbridge-workers-"))  # mode 0700
        self.sockets = [str(self._dir / f"worker-{i}.sock") for i in range(config.workers)]
        self._procs: list[asyncio.subprocess.Process | None] = [None] * config.workers
        self._ready = [False] * config.workers  # started, and not exited since
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False
        self.restarts = 0
        # awaited with the number of ready workers whenever it changes (the front's health)
        self.on_change: Callable[[int], Awaitable[None]] | None = None

    @property
    def ready(self) -> int:
        return sum(self._ready)

    async def _set_ready(self, index: int, ready: bool) -> None:
        if self._ready[index] == ready:
            return
        self._ready[index] = ready
        if self.on_change is None:
            return
        try:  # never let it hold up or break a restart (a health watcher may read slowly)
            async with asyncio.timeout(ON_CHANGE_TIMEOUT_S):
                await self.on_change(self.ready)
        except Exception:
            log.exception("reporting %d ready workers failed", self.ready)

    @property
    def targets(self) -> list[str]:
        return [f"unix:{path}" for path in self.sockets]

    async def start(self) -> None:
        await asyncio.gather(*(self._spawn(i) for i in range(len(self.sockets))))
        loop = asyncio.get_running_loop()
        self._watchers = [
            loop.create_task(self._watch(i), name=f"worker-watch-{i}")
            for i in range(len(self.sockets))
        ]

    async def _spawn(self, index: int) -> None:
        config = worker_config(self._config, self.sockets[index])
        env = dict(os.environ)
        env[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
        # Its own session: a Ctrl-C or a group kill reaches the front only, which then stops
        # the workers in order (they still die with the front: pdeathsig).
        proc = await asyncio.create_subprocess_exec(
            *die_with_parent(), *python_module("lkbridge.server"),
            stdout=asyncio.subprocess.PIPE, env=env, start_new_session=True,
        )  # fmt: skip
        self._procs[index] = proc  # stop() sees it even while it starts
        try:
            await wait_ready_async(proc, LISTENING, START_TIMEOUT_S)
        except NotReady as exc:
            self._procs[index] = None
            raise RuntimeError(f"worker {index} did not start: {exc}") from None
        log.info("worker %d (pid %d) on %s", index, proc.pid, self.sockets[index])
        await self._set_ready(index, True)

    async def _watch(self, index: int) -> None:
        delay = RESTART_DELAY_S
        while not self._stopping:
            proc = self._procs[index]
            if proc is not None:
                code = await proc.wait()
                if self._stopping:
                    return
                await self._set_ready(index, False)
                self.restarts += 1
                log.error("worker %d exited with %s; starting it again", index, code)
            await asyncio.sleep(delay)
            try:
                await self._spawn(index)
                delay = RESTART_DELAY_S
            except Exception:
                log.exception("worker %d could not be started again", index)
                delay = min(delay * 2, MAX_RESTART_DELAY_S)

    async def stop(self, grace_s: float) -> None:
        """SIGTERM every worker (each ends its streams and leaves its rooms), then wait."""
        self._stopping = True
        for task in self._watchers:
            task.cancel()
        live = [p for p in self._procs if p is not None and p.returncode is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in live)), grace_s + 2)
        except TimeoutError:
            for proc in live:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await asyncio.gather(*(p.wait() for p in live))
        with contextlib.suppress(OSError):
            for path in self.sockets:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self._dir.rmdir()


def load_config() -> BridgeConfig:
    """A worker's config, as the front wrote it into CONFIG_ENV."""
    raw = json.loads(os.environ[CONFIG_ENV])
    raw["playback_allow_hosts"] = tuple(raw.get("playback_allow_hosts", ()))
    return BridgeConfig(**raw)

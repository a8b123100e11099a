"""Serving the bridge's gRPC services and shutting the server down in order, for whoever holds
it: `BridgeServer` (server.py: this process's sessions) and the front's `FrontServer`
(front/server.py: sessions in worker processes) each compose a `Serving` and give it what it
serves, as uvicorn's supervisors hold a `Server` rather than extend it.

Shutdown order (uvicorn's): health NOT_SERVING at once, stop taking new calls, end every stream
and leave every room, wait for in-flight calls up to the grace period, then cancel the rest.
Signal handlers only set flags; a second signal forces the exit at any point of that: calls are
cancelled and nothing more is waited for, and a watchdog thread ends the process if something
still holds it a second later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc
from lkbridge._proto import lkbridge_admin_pb2_grpc as admin_grpc
from lkbridge.errors import ServeError
from lkbridge.server.config import (
    MAX_METADATA_BYTES,
    MAX_RECEIVE_BYTES,
    MAX_SMALL_REQUEST_BYTES,
    SERVICE_NAME,
    BridgeConfig,
)
from lkbridge.server.cpu_load import CpuLoad
from lkbridge.server.grpc.admin import ADMIN_SERVICE_NAME
from lkbridge.server.grpc.auth import BearerTokenInterceptor, HeaderSizeInterceptor
from lkbridge.server.grpc.health_listener import start_health_listener
from lkbridge.server.grpc.malformed import MalformedRequestInterceptor
from lkbridge.server.grpc.metrics import SnapshotSource, start_metrics_server
from lkbridge.server.grpc.stats import Stats
from lkbridge.server.session.memory import trim_after_bursts
from lkbridge.server.stalls import STALLS
from lkbridge.wire import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)


class BridgeServicer(Protocol):
    """What the shutdown needs of a LiveKitBridge servicer."""

    shutting_down: bool


@dataclass(frozen=True)
class Served:
    """What a `Serving` serves: a bridge's own sessions (server.py) or a front's relay to its
    workers (front/server.py)."""

    service: BridgeServicer  # LiveKitBridge
    admin: object  # BridgeAdmin
    stats: Stats
    metrics_snapshot: SnapshotSource  # for --metrics-port
    # the shutdown's "end every session", waited for up to the grace period; None where the
    # sessions are not this process's (a front's workers end their own on their SIGTERM)
    end_sessions: Callable[[], Coroutine[Any, Any, None]] | None
    # the process's CPU use, sampled while serving for admission (`--max-cpu`); None on a front:
    # its workers judge their own
    cpu: CpuLoad | None = None


HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
NO_COMPRESSION = 0  # grpc_compression_algorithm GRPC_COMPRESS_NONE
FORCED_EXIT_S = 1.0  # after a second signal, the process is gone within this


def prepare_socket_path(path: str) -> None:
    """Clear a stale socket at `path`; refuse anything else there (never delete a file).

    A missing directory is said here: grpc core would log its own line and then fail with a
    message that does not name the directory.
    """
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ServeError(f"cannot listen on unix:{path}: no directory {folder} (create it first)")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ServeError(f"socket path {path} exists and is not a socket: refusing to replace it")
    os.unlink(path)


def bind_unix_socket(server: grpc.aio.Server, path: str, mode: int) -> None:
    """Bind with the umask that gives `mode`, so the socket never exists with wider permissions
    (a chmod after bind leaves a moment when any local user may connect)."""
    prepare_socket_path(path)
    previous = os.umask(0o777 & ~mode)
    try:
        server.add_insecure_port(f"unix:{path}")
    finally:
        os.umask(previous)


def server_options(config: BridgeConfig) -> list[tuple[str, int]]:
    """grpc core's channel args: message sizes, keepalive, and the transport bounds that hold
    what one client can make the bridge keep (docs/operations.md, "Transport bounds")."""
    idle_ms = int(config.connection_idle_timeout_s * 1000)
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),  # the handlers refuse past 10 MiB
        # let clients ping every 10 s, even with no call in flight, without a GOAWAY
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        # Messages are taken as sent: grpc core inflates a compressed message before any
        # interceptor (auth) runs, 19 KB of gzip into 19 MiB. A compressed message is refused
        # (UNIMPLEMENTED) without being inflated; nothing this bridge carries compresses.
        ("grpc.compression_enabled_algorithms_bitset", 1 << NO_COMPRESSION),
        ("grpc.max_allowed_incoming_connections", config.max_connections),
        ("grpc.max_concurrent_streams", config.max_streams_per_connection),
        ("grpc.max_connection_idle_ms", idle_ms),  # no call in flight for this long: GOAWAY
        ("grpc.server_handshake_timeout_ms", idle_ms),
        # header lists past 16 KiB are refused, every time (the soft limit refuses at random)
        ("grpc.max_metadata_size", MAX_METADATA_BYTES),
        ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
    ]


def request_limit(method: str) -> int | None:
    """The most bytes a request of `method` (its path) may hold: StreamAudio's chunks are
    bounded by grpc core and the handler (MAX_MESSAGE_BYTES); every other request is small."""
    return None if method == f"/{SERVICE_NAME}/StreamAudio" else MAX_SMALL_REQUEST_BYTES


class Serving:
    """One gRPC server with the given bridge and admin services, health and reflection: its
    start, its signals and its ordered shutdown. It knows no session: what ends them at shutdown
    is given (`Served.end_sessions`)."""

    def __init__(self, config: BridgeConfig, served: Served) -> None:
        self.config = config
        self.served = served
        self.service = served.service
        self.health = health.aio.HealthServicer()
        self.metrics_port: int | None = None
        self._metrics: web.AppRunner | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._trimmer: asyncio.Task[None] | None = None
        self._cpu_watch: asyncio.Task[None] | None = None
        self.addresses: list[str] = []
        self._server: grpc.aio.Server | None = None
        self._health_server: grpc.aio.Server | None = None
        self.health_address: str | None = None  # --health-port's host:port, once bound
        self._should_exit = asyncio.Event()
        self._force_exit = False
        self._forced = asyncio.Event()
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        interceptors = self._interceptors()
        server = grpc.aio.server(
            interceptors=interceptors,
            options=server_options(self.config),
            # past it: RESOURCE_EXHAUSTED "Concurrent RPC limit exceeded!" at once
            maximum_concurrent_rpcs=self.config.max_calls,
        )
        self._add_services(server)
        self._bind(server)
        # before the main server starts: a taken health port ends the start with nothing served
        if (health_at := self.config.health_address) is not None:
            self._health_server, health_port = await start_health_listener(
                health_at, self.health, self.service, interceptors
            )
            self.health_address = f"{health_at.rsplit(':', 1)[0]}:{health_port}"
            log.info("health on %s", self.health_address)
        await server.start()
        if self.config.socket:
            self.addresses.append(f"unix:{self.config.socket}")
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        loop = asyncio.get_running_loop()
        self._heartbeat = loop.create_task(STALLS.heartbeat(), name="stall-heartbeat")
        self._trimmer = loop.create_task(trim_after_bursts(), name="memory-trim")
        if self.served.cpu is not None:
            self._cpu_watch = loop.create_task(self.served.cpu.watch(), name="cpu-load")
        if self.config.metrics_port is not None:
            self._metrics = await start_metrics_server(
                self.served.metrics_snapshot, self.config.metrics_host, self.config.metrics_port
            )
            sockets = self._metrics.addresses
            self.metrics_port = int(sockets[0][1]) if sockets else self.config.metrics_port
            log.info("metrics on http://%s:%s/metrics", self.config.metrics_host, self.metrics_port)
        log.info("lkbridge listening on %s", ", ".join(self.addresses))

    def _interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """Header size first, then auth, then malformed or oversized requests: garbage from a
        caller without the token is refused as unauthenticated, never parsed."""
        timeout_s = self.config.first_message_timeout_s
        interceptors: list[grpc.aio.ServerInterceptor] = [
            HeaderSizeInterceptor(MAX_METADATA_BYTES, timeout_s)
        ]
        if self.config.auth_token:
            interceptors.append(BearerTokenInterceptor(self.config.auth_token, timeout_s))
        interceptors.append(MalformedRequestInterceptor(request_limit))
        return interceptors

    def _add_services(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_LiveKitBridgeServicer_to_server(self.service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        admin_grpc.add_BridgeAdminServicer_to_server(self.served.admin, server)
        service_names = (SERVICE_NAME, ADMIN_SERVICE_NAME, HEALTH_SERVICE_NAME,
                         reflection.SERVICE_NAME)  # fmt: skip
        reflection.enable_server_reflection(service_names, server)

    def _bind(self, server: grpc.aio.Server) -> None:
        credentials = self._credentials()
        if tcp := self.config.tcp_address:
            port = (
                server.add_secure_port(tcp, credentials)
                if credentials
                else server.add_insecure_port(tcp)
            )
            host = tcp.rsplit(":", 1)[0]
            self.addresses.append(f"{host}:{port}")
        if self.config.socket:
            bind_unix_socket(server, self.config.socket, self.config.socket_mode)

    def _credentials(self) -> grpc.ServerCredentials | None:
        if self.config.tls is None:
            return None
        key, cert, ca = self.config.tls.load()
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )

    @property
    def port(self) -> int:
        """The TCP port actually bound (useful with port 0)."""
        for address in self.addresses:
            if not address.startswith("unix:"):
                return int(address.rsplit(":", 1)[1])
        raise RuntimeError("not listening on TCP")

    def handle_exit(self, sig: int | None = None) -> None:
        if self._should_exit.is_set() and not self._force_exit:
            self._force_exit = True
            log.warning("second signal: forcing exit")
            self._forced.set()
            _arm_exit_watchdog(FORCED_EXIT_S)
        self._should_exit.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig)

    async def exit_requested(self) -> None:
        """Return once a signal (or `handle_exit`) asks the server to stop."""
        await self._should_exit.wait()

    @property
    def grace_s(self) -> float:
        """How long the shutdown waits for calls and sessions: none once a second signal came."""
        return 0.0 if self._force_exit else self.config.grace_period_s

    async def shutdown(self) -> None:
        if self._stopped.is_set() or self._server is None:
            return
        started = time.monotonic()
        grace = self.grace_s
        log.info("shutting down (grace %.1f s)", grace)
        self.service.shutting_down = True
        await self.health.enter_graceful_shutdown()
        loop = asyncio.get_running_loop()
        stop = loop.create_task(self._server.stop(grace))
        if self.served.end_sessions is not None:
            closing = loop.create_task(self.served.end_sessions())
            await self._unless_forced(closing, max(grace, 0.5))
            if not closing.done():
                closing.cancel()  # stops the waiting; a connect under way is never cancelled
                if not self._force_exit:
                    log.warning("sessions still closing after the grace period")
        await self._unless_forced(stop, None)
        if not stop.done():
            await self._server.stop(0)  # cancels every call still open
        if self._health_server is not None:  # NOT_SERVING until here, then gone
            await self._health_server.stop(0)
        if (lookup := getattr(self.service, "name_lookup", None)) is not None:
            lookup.close()  # a front's relay has none
        tasks = (self._heartbeat, self._trimmer, self._cpu_watch)
        watchers = [task for task in tasks if task is not None]
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)  # ended, not just told to
        if self._metrics is not None:
            await self._metrics.cleanup()
        self._stopped.set()
        if self.config.socket:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.config.socket)
        log.info("stopped in %.2f s", time.monotonic() - started)

    async def _unless_forced(self, step: asyncio.Task[None], timeout: float | None) -> None:
        """Wait for `step` up to `timeout`, or until a second signal."""
        forced = asyncio.get_running_loop().create_task(self._forced.wait())
        try:
            await asyncio.wait({step, forced}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            forced.cancel()


def _arm_exit_watchdog(delay: float) -> None:
    """End the process after `delay` if a forced shutdown has not ended it: a thread, so a
    blocked event loop or an executor thread stuck in a DNS lookup cannot hold it."""

    def expire() -> None:
        with contextlib.suppress(Exception):
            log.error("forced exit: still running %.1f s after the second signal", delay)
            sys.stderr.flush()
        os._exit(1)

    timer = threading.Timer(delay, expire)
    timer.daemon = True
    timer.start()

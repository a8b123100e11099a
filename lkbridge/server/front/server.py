"""The front of `lkbridge serve --workers K`: the public address in front of K session processes.

It speaks the same services (LiveKitBridge, health, reflection, BridgeAdmin) behind the same
auth and TLS, and relays each call to the worker that holds the user (workers.py). Status codes
and messages come back unchanged, so a caller cannot tell a front from a single bridge, except
that HealthCheck adds the workers up and says how many answered. The relay costs a second gRPC
receive and send per chunk (measured in docs/benchmarks.md).

`FrontServer` composes a `Serving` (grpc/serving.py) over the relay, as uvicorn's supervisors hold
a `Server`: the same gRPC server, signals and ordered shutdown as a bridge, with no registry of
sessions here (they live in the workers, which end their own at their SIGTERM).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from grpc_health.v1 import health_pb2

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge.server.config import SERVICE_NAME, BridgeConfig
from lkbridge.server.front.admin import FrontAdmin, merge_snapshots
from lkbridge.server.front.relay import WORKER_HEALTH_TIMEOUT_S, ProxyService, Workers
from lkbridge.server.front.workers import WorkerPool
from lkbridge.server.grpc.admin import process_stats
from lkbridge.server.grpc.serving import Served, Serving
from lkbridge.server.grpc.stats import Stats

log = logging.getLogger(__name__)


class FrontServer:
    """A bridge's serving and shutdown over a relay, with the sessions in worker processes.

    No room here: the SDK's native side is never started in the front.
    """

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.stats = Stats()
        self.pool = WorkerPool(config)
        self._workers: Workers | None = None
        self.proxy = ProxyService(self.stats, config.first_message_timeout_s)
        self.front_admin = FrontAdmin(self.stats)
        self.serving = Serving(
            config, Served(self.proxy, self.front_admin, self.stats, self.metrics_snapshot, None)
        )

    @property
    def addresses(self) -> list[str]:
        return self.serving.addresses

    def install_signal_handlers(self) -> None:
        self.serving.install_signal_handlers()

    async def serve_until_exit(self) -> None:
        await self.serving.exit_requested()
        await self.shutdown()

    async def start(self) -> None:
        await self.pool.start()
        self._workers = Workers(self.pool.targets)
        self.proxy.workers = self.front_admin.workers = self._workers
        await self.serving.start()
        self.pool.on_change = self._workers_changed
        await self._workers_changed(self.pool.ready)
        log.info("fronting %d workers", len(self.pool.targets))

    async def _workers_changed(self, ready: int) -> None:
        """The standard health follows the workers: NOT_SERVING while none of them is up.

        (One worker down is not a reason to take the whole front out of a load balancer: the
        front restarts it, and the users of the others are fine.) After shutdown has begun the
        health servicer ignores this and stays NOT_SERVING.
        """
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        if not ready:
            log.error("no worker is up: health NOT_SERVING until one is back")
        for name in ("", SERVICE_NAME):
            await self.serving.health.set(name, status)

    async def metrics_snapshot(self) -> admin_pb.StatsSnapshot:
        """The front's figures plus each worker's first WatchStats snapshot (one per scrape)."""
        assert self._workers is not None
        request = admin_pb.WatchStatsRequest(include_sessions=False)

        async def first(admin: Any) -> Any:
            call = admin.WatchStats(request, timeout=WORKER_HEALTH_TIMEOUT_S)
            try:
                return await call.read()
            finally:
                call.cancel()

        answers = await asyncio.gather(
            *(first(admin) for admin in self._workers.admins), return_exceptions=True
        )
        parts = [a for a in answers if isinstance(a, admin_pb.StatsSnapshot)]
        return merge_snapshots(process_stats(self.stats), parts)

    async def shutdown(self) -> None:
        """Workers get SIGTERM at once: they end their streams (relayed as they are) and leave
        their rooms while the front stops taking calls."""
        self.proxy.shutting_down = True
        workers_stopped = asyncio.get_running_loop().create_task(
            self.pool.stop(self.serving.grace_s)
        )
        await self.serving.shutdown()
        await workers_stopped
        if self._workers is not None:
            await self._workers.close()

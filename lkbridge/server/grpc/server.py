"""The bridge process: this process's sessions served over gRPC, from a BridgeConfig.

`BridgeServer` holds the sessions (the registry, the LiveKitBridge and BridgeAdmin servicers over
it) and composes a `Serving` (serving.py) that starts the gRPC server, takes the signals and
shuts it down in uvicorn's order; its one step that knows sessions, ending them all, is handed
to it from here. A front (`--workers`) composes a `Serving` of its own over its relay, with no
registry (front/server.py).
"""

from __future__ import annotations

import logging

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge.server.config import BridgeConfig
from lkbridge.server.cpu_load import CpuLoad, cpu_limit_cores
from lkbridge.server.grpc.admin import BridgeAdminService, Snapshots
from lkbridge.server.grpc.service import LiveKitBridgeService
from lkbridge.server.grpc.serving import Served, Serving
from lkbridge.server.grpc.stats import Stats
from lkbridge.server.redact import RedactingFilter
from lkbridge.server.rtc.runtime import set_sdk_logs
from lkbridge.server.session.registry import SessionRegistry

_sdk_log_filter = RedactingFilter()


class BridgeServer:
    """One gRPC server with the bridge, health and reflection services over this process's
    sessions."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.stats = Stats()
        self.cpu = CpuLoad(cpu_limit_cores(config.cpu_processes))
        self.registry = SessionRegistry(config, self.cpu)
        self.snapshots = Snapshots(self.registry, self.stats)
        self.service = LiveKitBridgeService(config, self.registry, self.stats)
        self.admin = BridgeAdminService(self.snapshots)
        self.serving = Serving(
            config,
            Served(
                self.service,
                self.admin,
                self.stats,
                self.metrics_snapshot,
                self._end_sessions,
                self.cpu,
            ),
        )

    async def start(self) -> None:
        # before any room: the switch applies to the whole process
        set_sdk_logs(to_python=self.config.sdk_logs == "python")
        logging.getLogger("livekit").addFilter(_sdk_log_filter)  # it quotes rejected tokens
        await self.serving.start()

    async def metrics_snapshot(self) -> admin_pb.StatsSnapshot:
        return self.snapshots.take(include_sessions=False)

    async def _end_sessions(self) -> None:
        await self.registry.close_all("bridge shutting down")

    @property
    def addresses(self) -> list[str]:
        return self.serving.addresses

    @property
    def port(self) -> int:
        """The TCP port actually bound (useful with port 0)."""
        return self.serving.port

    @property
    def metrics_port(self) -> int | None:
        return self.serving.metrics_port

    @property
    def health_address(self) -> str | None:
        return self.serving.health_address

    def handle_exit(self, sig: int | None = None) -> None:
        self.serving.handle_exit(sig)

    def install_signal_handlers(self) -> None:
        self.serving.install_signal_handlers()

    async def serve_until_exit(self) -> None:
        await self.serving.exit_requested()
        await self.shutdown()

    async def shutdown(self) -> None:
        await self.serving.shutdown()


__all__ = ["BridgeServer", "pb"]

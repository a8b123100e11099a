"""Run a bridge from a BridgeConfig until SIGTERM/SIGINT (uvicorn's `Server.run` shape).

`lkbridge serve` builds the config and calls `run_server`; so does each worker of a front
(`python -m lkbridge.server`). The "lkbridge listening on ..." lines are printed here, once the
server accepts calls, because the front, the dev stack and the tests wait for them on stdout.
"""

from __future__ import annotations

from lkbridge.errors import ServeError
from lkbridge.server import eventloop
from lkbridge.server.config import LISTENING, BridgeConfig
from lkbridge.server.front.server import FrontServer
from lkbridge.server.grpc.server import BridgeServer


def run_server(config: BridgeConfig) -> None:
    """Serve until a signal; ServeError when the server cannot start (a one-line cause)."""
    eventloop.run(serve(config), config.loop)


async def serve(config: BridgeConfig) -> None:
    server = BridgeServer(config) if config.workers == 1 else FrontServer(config)
    try:
        await server.start()
    except (OSError, RuntimeError) as exc:  # grpc: "Failed to bind to address ..."
        raise ServeError(f"cannot start the bridge: {exc}") from None
    server.install_signal_handlers()
    for address in server.addresses:
        print(f"{LISTENING}{address}", flush=True)
    await server.serve_until_exit()

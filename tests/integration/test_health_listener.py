"""`--health-port`: health answers a fresh probe while the main port is held at its bounds
(issue 23, finding 5), through a real `lkbridge serve` and the real `lkbridge health` command.

Before it, a client holding `--max-connections` idle connections had every new connection closed
at accept, and one holding `--max-calls` calls had every new call refused, health included: the
pod's own probes failed. The attacks are the transport tests' own (tests/h2raw.py).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time

import pytest

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.client import BridgeClient
from lkbridge.devstack.ports import free_port
from lkbridge.errors import ClientError
from lkbridge.server.config import SERVICE_NAME
from tests.h2raw import open_fds
from tests.integration.test_hostile_edges import serve_procs
from tests.integration.test_hostile_transport import (
    TOKEN,
    at_max_calls,
    connect_idle,
    open_streams,
    serve,
)
from tests.support.cli import run

__all__ = ["serve_procs"]  # the fixture, imported for this module

IDLE_CONNECTIONS = 5_000  # thousands, as in the issue; the main port holds 100 of them


async def probe(health_port: int) -> None:
    """What a kubelet exec probe runs, then the bridge's own HealthCheck, each on a new
    connection to the health port: SERVING."""
    began = time.monotonic()
    done = await asyncio.to_thread(
        run, "health", "--standard", "--timeout", "5", "--bridge", f"127.0.0.1:{health_port}"
    )
    assert (done.returncode, done.stdout.strip()) == (0, "SERVING"), done.stderr
    print(f"lkbridge health on the health port: SERVING in {time.monotonic() - began:.2f} s")
    async with BridgeClient(f"127.0.0.1:{health_port}", auth_token=TOKEN, timeout=5) as client:
        assert (await client.health()).status == pb.HealthCheckResponse.SERVING
        assert await client.standard_health(SERVICE_NAME) == "SERVING"


async def main_port_refuses(port: int) -> ClientError:
    async with BridgeClient(f"127.0.0.1:{port}", auth_token=TOKEN, timeout=3) as client:
        with pytest.raises(ClientError) as err:
            await client.health()
    return err.value


async def test_health_port_answers_while_idle_connections_hold_the_main_port(
    serve_procs: list[subprocess.Popen[str]],
) -> None:
    health_port = free_port()
    served, port = serve(serve_procs, "--health-port", str(health_port))
    pid = served.proc.pid
    fds_before = open_fds(pid)
    socks: list[socket.socket] = await asyncio.to_thread(connect_idle, port, IDLE_CONNECTIONS)
    try:
        assert open_fds(pid) <= fds_before + 100 + 10, open_fds(pid)
        refused = await main_port_refuses(port)  # a new connection there: closed at accept
        assert refused.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"), refused
        await probe(health_port)
        await probe(health_port)  # and again: the probes' own connections were let go
    finally:
        for sock in socks:
            sock.close()
    print(f"idle: main port refused a new client ({refused.code}), the health port SERVING")


async def test_health_port_answers_while_calls_hold_the_main_port(
    serve_procs: list[subprocess.Popen[str]],
) -> None:
    health_port = free_port()
    _, port = serve(serve_procs, "--health-port", str(health_port))
    # 10 x 256 StreamAudio without token or message: past the 2,000 of --max-calls for the
    # 5 s of the first-message bound
    conns = await asyncio.to_thread(open_streams, port, 10, 256)
    try:
        refused = await at_max_calls(port)
        assert (refused.code, refused.details) == (
            "RESOURCE_EXHAUSTED",
            "Concurrent RPC limit exceeded!",
        )
        await probe(health_port)
    finally:
        for conn in conns:
            conn.close()


async def test_health_port_closes_with_a_clean_shutdown(
    serve_procs: list[subprocess.Popen[str]],
) -> None:
    health_port = free_port()
    served, _ = serve(serve_procs, "--health-port", str(health_port), "--grace-period", "2")
    async with BridgeClient(f"127.0.0.1:{health_port}", timeout=5) as client:
        assert await client.standard_health() == "SERVING"
        served.proc.terminate()
        await asyncio.to_thread(served.proc.wait, 20)
    assert served.proc.returncode == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", health_port), timeout=2).close()


async def test_a_front_serves_the_health_port_and_its_workers_do_not(
    serve_procs: list[subprocess.Popen[str]],
) -> None:
    """With --workers, the front opens the health port once (a worker binding it too would fail
    to start) and its HealthCheck there relays the workers' figures."""
    health_port = free_port()
    serve(serve_procs, "--workers", "2", "--health-port", str(health_port))
    await probe(health_port)
    async with BridgeClient(f"127.0.0.1:{health_port}", auth_token=TOKEN) as client:
        assert (await client.health()).metadata["workers_up"] == "2"


async def test_a_taken_health_port_is_a_usage_error_before_anything_is_served() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        health_port = taken.getsockname()[1]
        done = await asyncio.to_thread(
            run, "serve", "--port", "0", "--health-port", str(health_port)
        )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # no "lkbridge listening on" line: the main port never started
    assert done.stderr.splitlines()[-1].startswith(
        f"error: cannot listen for health on 127.0.0.1:{health_port}: Failed to bind"
    ), done.stderr
    assert "Traceback" not in done.stderr

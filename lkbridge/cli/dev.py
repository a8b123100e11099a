"""`lkbridge dev`: the whole local stack in one command, until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal

import typer
from rich.console import Console
from rich.panel import Panel

from lkbridge.devstack import netns
from lkbridge.devstack.stack import DevInfo, DevStack
from lkbridge.server import eventloop
from lkbridge.server.logs import configure_logging

console = Console(stderr=True)


def dev(
    bridge_port: int = typer.Option(9090, help="TCP port of the bridge (inside the namespace)."),
    signal_kind: str = typer.Option(
        "speech", "--signal", help="What the simulated device says: speech (espeak-ng) or tone."
    ),
    log_level: str = typer.Option("warning", help="Log level of the bridge."),
) -> None:
    """Start livekit-server, the bridge, a simulated device and a joined session; Ctrl-C stops."""
    netns.reexec_inside()
    configure_logging(log_level, "text")
    eventloop.run(_run(bridge_port, signal_kind))


async def _run(bridge_port: int, signal_kind: str) -> None:
    stack = DevStack(bridge_port=bridge_port, signal=signal_kind)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        info = await stack.start()
        console.print(_banner(info))
        print(f"lkbridge dev ready: bridge {info.bridge_socket}", flush=True)
        await stop.wait()
        console.print("stopping ...")
    finally:
        await stack.stop()


def _banner(info: DevInfo) -> Panel:
    lines = [
        f"[bold]LiveKit[/]   {info.livekit_url}  (inside network namespace lkb)",
        f"          key {info.api_key}  secret {info.api_secret}",
        f"[bold]Bridge[/]    {info.bridge_socket}  (from any shell)  |  {info.bridge_tcp} (in lkb)",
        f"[bold]Session[/]   user {info.user_id} in room {info.room}, "
        f"device '{info.device_identity}' speaking {info.signal}",
        "",
        "Try, from another shell (the commands find this stack by themselves):",
        "  lkbridge health",
        f"  lkbridge status {info.user_id}",
        f"  lkbridge stream {info.user_id} --record room.wav --duration 3",
        f"  lkbridge token --dev --room {info.room} --identity phone",
        f"  grpcurl -plaintext -unix {info.bridge_socket[5:]} list",
        "Ctrl-C stops everything.",
    ]
    return Panel("\n".join(lines), title="lkbridge dev", expand=False)

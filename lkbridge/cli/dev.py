"""`lkbridge dev`: the whole local stack in one command, until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING

import typer

from lkbridge.cli.common import EXIT_USAGE, fail

if TYPE_CHECKING:
    from lkbridge.devstack.state import DevInfo

SIGNALS = ("speech", "tone")


def dev(
    bridge_port: int | None = typer.Option(
        None,
        help="TCP port of the bridge inside the namespace (default 9090, or a free one when it "
        "is taken; 0: a free one).",
    ),
    signal_kind: str = typer.Option(
        "speech", "--signal", help="What the simulated device says: speech (espeak-ng) or tone."
    ),
    log_level: str = typer.Option("warning", help="Log level of the bridge."),
) -> None:
    """Start livekit-server, the bridge, a simulated device and a joined session; Ctrl-C stops.

    The stack keeps its state (socket, keys, served files) in ~/.cache/lkbridge/dev, or in
    LKBRIDGE_DEV_DIR: a second stack needs a directory of its own.
    """
    if signal_kind not in SIGNALS:
        raise typer.BadParameter("speech or tone", param_hint="--signal")
    from lkbridge.devstack import netns

    try:
        netns.reexec_inside()
    except (PermissionError, RuntimeError) as exc:
        raise fail(f"cannot enter the network namespace: {exc}", EXIT_USAGE) from None
    from lkbridge.server import eventloop
    from lkbridge.server.logs import configure_logging

    configure_logging(log_level, "text")
    eventloop.run(_run(bridge_port, signal_kind))


async def _run(bridge_port: int | None, signal_kind: str) -> None:
    from lkbridge.devstack.livekit import LiveKitServerNotFound
    from lkbridge.devstack.stack import DevStack
    from lkbridge.devstack.state import StackRunning

    stack = DevStack(bridge_port=bridge_port, signal=signal_kind)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            info = await stack.start()
        except (StackRunning, LiveKitServerNotFound) as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        except (OSError, RuntimeError, TimeoutError) as exc:
            raise fail(f"the dev stack did not start: {exc}", EXIT_USAGE) from None
        _banner(info)
        print(f"lkbridge dev ready: bridge {info.bridge_socket}", flush=True)
        await stop.wait()
        print("stopping ...", file=sys.stderr)
    finally:
        await stack.stop()


def _banner(info: DevInfo) -> None:
    from rich.console import Console
    from rich.panel import Panel

    lines = [
        f"[bold]LiveKit[/]   {info.livekit_url}  (inside network namespace lkb)",
        f"          key {info.api_key}  secret {info.api_secret}",
        f"[bold]Bridge[/]    {info.bridge_socket}  (from any shell)  |  {info.bridge_tcp} (in lkb)",
        f"[bold]Session[/]   user {info.user_id} in room {info.room}, "
        f"device '{info.device_identity}' speaking {info.signal}",
        f"[bold]State[/]     {info.files_dir.rsplit('/', 1)[0]}  (pid {info.pid})",
        "",
        "Try, from another shell (the commands find this stack by themselves):",
        "  lkbridge health",
        "  lkbridge sessions",
        f"  lkbridge stream {info.user_id} --record room.wav --duration 3",
        f"  lkbridge play {info.user_id} ./speech.mp3",
        "  lkbridge device --identity phone --record heard.wav --duration 5",
        f"  lkbridge token --room {info.room} --identity phone",
        f"  grpcurl -plaintext -unix {info.bridge_socket[5:]} list",
        "Ctrl-C stops everything.",
    ]
    Console(stderr=True).print(Panel("\n".join(lines), title="lkbridge dev", expand=False))

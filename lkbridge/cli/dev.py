"""`lkbridge dev`: the whole local stack in one command, until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
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
        _banner(info, stack.sample)
        print(f"lkbridge dev ready: bridge {info.bridge_socket}", flush=True)
        await stop.wait()
        print("stopping ...", file=sys.stderr)
    finally:
        await stack.stop()


def command_prefix() -> str:
    """How to run lkbridge from another shell: `lkbridge` when that is on PATH and is this
    install, else this interpreter with `-m lkbridge` (a venv not activated, `python -m`)."""
    import shlex
    import shutil

    found = shutil.which("lkbridge")
    if found is not None and Path(found).parent == Path(sys.executable).parent:
        return "lkbridge"
    return f"{shlex.quote(sys.executable)} -m lkbridge"


def _banner(info: DevInfo, sample: Path | None) -> None:
    """What runs where, and commands to try that work as printed (tests run them)."""
    import shlex

    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel
    from rich.text import Text

    lk = escape(command_prefix())
    user = escape(info.user_id)
    lines = [
        f"[bold]LiveKit[/]   {escape(info.livekit_url)}  (inside network namespace lkb)",
        f"          key {escape(info.api_key)}  secret {escape(info.api_secret)}",
        f"[bold]Bridge[/]    {escape(info.bridge_socket)}  (from any shell)  |  "
        f"{escape(info.bridge_tcp)} (in lkb)",
        f"[bold]Session[/]   user {user} in room {escape(info.room)}, "
        f"device '{escape(info.device_identity)}' speaking {escape(info.signal)}",
        f"[bold]State[/]     {escape(info.files_dir.rsplit('/', 1)[0])}  (pid {info.pid})",
        "",
        "Try, from another shell (the commands find this stack by themselves):",
        f"  {lk} health",
        f"  {lk} sessions",
        f"  {lk} stream {user} --record room.wav --duration 3",
    ]
    if sample is not None:
        lines.append(f"  {lk} play {user} {escape(shlex.quote(str(sample)))}")
    lines += [
        f"  {lk} device --signal none --record heard.wav --duration 5",
        f"  {lk} token --room {escape(info.room)} --identity phone",
        f"  grpcurl -plaintext -unix {escape(info.bridge_socket[5:])} list",
        "Ctrl-C stops everything.",
    ]
    text = "\n".join(lines)
    if not sys.stderr.isatty():  # a log file or a pipe: plain lines, no box to wrap them
        print(Text.from_markup(text).plain, file=sys.stderr, flush=True)
        return
    Console(stderr=True).print(Panel(text, title="lkbridge dev", expand=False))

"""Entry point of the `lkbridge` command; subcommands live in their own modules."""

from __future__ import annotations

import typer

from lkbridge import __version__
from lkbridge.cli import audio, dev, device, loadtest, rooms, serve, status, tui

app = typer.Typer(
    name="lkbridge",
    help="gRPC bridge between a cloud service and LiveKit rooms, and the tools around it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("dev")(dev.dev)
app.command("health")(status.health)
app.command("status")(status.status)
app.command("token")(rooms.token)
app.command("join")(rooms.join)
app.command("leave")(rooms.leave)
app.command("play")(audio.play)
app.command("stop")(audio.stop)
app.command("stream")(audio.stream)
app.command("device")(device.device)
app.command("tui")(tui.tui)
app.command("loadtest")(loadtest.loadtest)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """lkbridge: see `lkbridge COMMAND --help`."""


def main() -> None:
    app()

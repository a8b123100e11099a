"""Entry point of the `lkbridge` command; subcommands live in their own modules.

Every command module is cheap to import (the heavy parts load inside the command), so
`lkbridge health` and `lkbridge --version` start without the server, the SDK or PyAV.
"""

from __future__ import annotations

import os
from typing import Any

import typer
import typer.core

from lkbridge import __version__
from lkbridge.cli import audio, dev, device, loadtest, rooms, serve, sessions, setup, status, tui
from lkbridge.cli.common import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, CliExit, fail


class OneLineErrors(typer.core.TyperGroup):
    """Whatever a command lets escape ends as one line on stderr and a documented exit code.

    LKBRIDGE_DEBUG=1 lets an unexpected exception through with its traceback.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, BrokenPipeError):  # typer quiets a closed pipe itself
            raise
        except CliExit as exc:  # its line is printed already
            raise typer.Exit(exc.code) from None
        except typer.TyperException as exc:  # usage: a bad flag, value or argument
            where = getattr(getattr(exc, "ctx", None), "command_path", "lkbridge")
            failed = fail(f"{exc.format_message()} (see `{where} --help`)", EXIT_USAGE)
        except KeyboardInterrupt:
            failed = fail("interrupted", EXIT_INTERRUPTED)
        except Exception as exc:
            if os.environ.get("LKBRIDGE_DEBUG"):
                raise
            failed = fail(
                f"internal error: {type(exc).__name__}: {exc} "
                "(LKBRIDGE_DEBUG=1 shows the traceback)",
                EXIT_INTERNAL,
            )
        raise typer.Exit(failed.code)


app = typer.Typer(
    name="lkbridge",
    help="gRPC bridge between a cloud service and LiveKit rooms, and the tools around it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)
app.command("serve")(serve.serve)
app.command("dev")(dev.dev)
app.command("health")(status.health)
app.command("status")(status.status)
app.command("sessions")(sessions.sessions)
app.command("token")(rooms.token)
app.command("join")(rooms.join)
app.command("leave")(rooms.leave)
app.command("play")(audio.play)
app.command("stop")(audio.stop)
app.command("stream")(audio.stream)
app.command("device")(device.device)
app.command("tui")(tui.tui)
app.command("loadtest")(loadtest.loadtest)
app.command("setup")(setup.setup)


def _version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """lkbridge: see `lkbridge COMMAND --help`. Exit codes: README, "Exit codes"."""


def main() -> None:
    app()

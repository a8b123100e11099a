"""Entry point of the `lkbridge` command; subcommands live in their own modules.

Every command module is cheap to import (the heavy parts load inside the command), so
`lkbridge health` and `lkbridge --version` start without the server, the SDK or PyAV.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import typer
import typer.core

from lkbridge import __version__
from lkbridge.cli import (
    audio,
    calls,
    dev,
    device,
    loadtest,
    rooms,
    serve,
    sessions,
    setup,
    status,
    tui,
)
from lkbridge.cli.common import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, CliExit, fail


def usage_error(exc: typer.TyperException) -> CliExit:
    where = getattr(getattr(exc, "ctx", None), "command_path", None) or "lkbridge"
    return fail(f"{exc.format_message()} (see `{where} --help`)", EXIT_USAGE)


class OneLineErrors(typer.core.TyperGroup):
    """Whatever a command lets escape ends as one line on stderr and a documented exit code.

    LKBRIDGE_DEBUG=1 lets an unexpected exception through with its traceback.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,
        **extra: Any,
    ) -> Any:
        """The root's own options (`lkbridge --bogus`) are parsed here, outside `invoke`:
        without this, typer draws its error box around them."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `lkbridge`: the help, as asked
                raise
            raise typer.Exit(usage_error(exc).code) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, BrokenPipeError):  # typer quiets a closed pipe itself
            raise
        except CliExit as exc:  # its line is printed already
            raise typer.Exit(exc.code) from None
        except typer.TyperException as exc:  # usage: a bad flag, value or argument
            failed = usage_error(exc)
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


def reflow(doc: str | None) -> str:
    """A docstring as help: each paragraph one line, for the terminal to wrap.

    rich keeps a docstring's own line breaks, so on a terminal narrower than the source a
    sentence broke twice, once where the terminal wraps and once where the source did.
    """
    import inspect

    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


app = typer.Typer(
    name="lkbridge",
    help="gRPC bridge between a cloud service and LiveKit rooms, and the tools around it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _add(name: str, command: Callable[..., Any]) -> None:
    app.command(name, help=reflow(command.__doc__))(command)


_add("serve", serve.serve)
_add("dev", dev.dev)
_add("health", status.health)
_add("status", status.status)
_add("sessions", sessions.sessions)
_add("token", rooms.token)
_add("join", rooms.join)
_add("leave", rooms.leave)
_add("play", audio.play)
_add("stop", audio.stop)
_add("stream", audio.stream)
_add("device", device.device)
_add("tui", tui.tui)
_add("loadtest", loadtest.loadtest)
_add("setup", setup.setup)


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
    calls.JSON_ERRORS = calls.wants_json(sys.argv[1:])
    app()

"""The CLI's pure parts: option defaults and help, TTLs, ages, one-line errors."""

from __future__ import annotations

import pytest
import typer

from lkbridge.cli.main import OneLineErrors, app
from lkbridge.cli.rooms import parse_ttl
from lkbridge.cli.sessions import age
from lkbridge.server.config import BridgeConfig
from tests.support.cli import runner


def test_serve_without_options_is_the_servers_default_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`serve`'s option defaults and BridgeConfig's field defaults are one declaration."""
    from lkbridge.cli.serve import config_of

    command: typer.core.TyperCommand = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    for param in command.params:
        for name in [param.envvar] if isinstance(param.envvar, str) else param.envvar or []:
            monkeypatch.delenv(name, raising=False)
    with command.make_context("serve", []) as ctx:
        assert config_of(ctx) == BridgeConfig()


def test_unexpected_errors_are_one_line() -> None:
    crashing = typer.Typer(cls=OneLineErrors)

    @crashing.command()
    def boom() -> None:
        raise ZeroDivisionError("division by zero")

    @crashing.command()
    def other() -> None:
        pass

    result = runner.invoke(crashing, ["boom"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: internal error: ZeroDivisionError: division by zero "
        "(LKBRIDGE_DEBUG=1 shows the traceback)\n"
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), ("45", 45)]
)
def test_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["0s", "-5m", "0", "soon", "", "5x"])
def test_ttl_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_ttl(text)


def test_age() -> None:
    assert [age(s) for s in (5, 75, 3725)] == ["5s", "1m15s", "1h02m"]

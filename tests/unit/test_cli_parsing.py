"""The CLI's pure parts: option defaults and help, TTLs, ages, one-line errors."""

from __future__ import annotations

import pytest
import typer

from lkbridge.cli.main import OneLineErrors
from lkbridge.cli.rooms import parse_ttl
from lkbridge.cli.serve import (
    LOG_LEVELS_HELP,
    MAX_JOINS_IN_FLIGHT_DEFAULT,
    MAX_SESSIONS_DEFAULT,
    PUBLISH_BITRATE_DEFAULT,
)
from lkbridge.cli.sessions import age
from lkbridge.server.config import LOG_LEVELS, BridgeConfig
from tests.support.cli import runner


def test_serve_help_names_every_log_level() -> None:
    assert LOG_LEVELS_HELP.split("/") == list(LOG_LEVELS)


def test_serve_defaults_to_the_servers_publish_bitrate() -> None:
    assert BridgeConfig().publish_bitrate == PUBLISH_BITRATE_DEFAULT


def test_serve_defaults_to_the_servers_admission_bounds() -> None:
    config = BridgeConfig()
    assert (config.max_sessions, config.max_joins_in_flight) == (
        MAX_SESSIONS_DEFAULT,
        MAX_JOINS_IN_FLIGHT_DEFAULT,
    )


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

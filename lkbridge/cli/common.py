"""The options every client command shares; the rest of what they share is in calls.py."""

from __future__ import annotations

from typing import Any

import typer

from lkbridge.cli.calls import (
    DEFAULT_TARGET,
    EXIT_CANNOT_CONNECT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_NOT_SERVING,
    EXIT_OK,
    EXIT_RPC_FAILED,
    EXIT_USAGE,
    CliExit,
    Target,
    cannot_reach,
    fail,
    message_dict,
    print_json,
    print_rows,
    profile_or_fail,
    refused,
    resolve,
    resolve_auth,
    resolve_target,
    rpc_failed,
    run_call,
    run_on,
    session_not_found,
    unreachable_cause,
)
from lkbridge.cli.flags import AUTH_TOKEN, BRIDGE, JSON, TIMEOUT, Flag

__all__ = [
    "DEFAULT_TARGET",
    "EXIT_CANNOT_CONNECT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_SERVING",
    "EXIT_OK",
    "EXIT_RPC_FAILED",
    "EXIT_USAGE",
    "AuthOption",
    "BridgeOption",
    "CliExit",
    "JsonOption",
    "Target",
    "TimeoutOption",
    "cannot_reach",
    "fail",
    "message_dict",
    "print_json",
    "print_rows",
    "profile_or_fail",
    "refused",
    "resolve",
    "resolve_auth",
    "resolve_target",
    "rpc_failed",
    "run_call",
    "run_on",
    "session_not_found",
    "unreachable_cause",
]


def option(flag: Flag, **extra: Any) -> Any:
    """The typer option of a flag declared in flags.py."""
    return typer.Option(flag.default, flag.name, envvar=flag.envvar, help=flag.help, **extra)


BridgeOption = option(BRIDGE)
AuthOption = option(AUTH_TOKEN, show_default=False)
JsonOption = option(JSON)
TimeoutOption = option(TIMEOUT)

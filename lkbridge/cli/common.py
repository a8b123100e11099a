"""The options every client command shares; the rest of what they share is in calls.py."""

from __future__ import annotations

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

BridgeOption = typer.Option(
    None,
    "--bridge",
    envvar="LKBRIDGE_TARGET",
    help="host:port or unix:/path of the bridge (default: the profile's, the running dev "
    f"stack's, else {DEFAULT_TARGET}).",
)
AuthOption = typer.Option(
    None,
    "--auth-token",
    envvar="LKBRIDGE_AUTH_TOKEN",
    show_default=False,
    help="Bearer token the bridge requires (default: the profile's).",
)
JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")
TimeoutOption = typer.Option(5.0, "--timeout", help="Seconds to wait for the bridge.")

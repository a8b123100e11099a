"""`lkbridge health` and `lkbridge status`: plain tables for people, --json for scripts."""

from __future__ import annotations

import typer

from lkbridge.cli.common import (
    AuthOption,
    BridgeOption,
    CliExit,
    JsonOption,
    TimeoutOption,
    message_dict,
    print_json,
    print_rows,
    run_call,
)


def health(
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = JsonOption,
    timeout: float = TimeoutOption,
    service: str = typer.Option("", help="Service name to ask about (default: the server)."),
    standard: bool = typer.Option(
        False,
        "--standard",
        help="Ask grpc.health.v1 (as grpc_health_probe does): for container health checks.",
    ),
) -> None:
    """HealthCheck: serving status, sessions, streams, uptime and live figures.

    Exit codes: 0 serving, 2 cannot connect, 3 RPC failed, 4 not serving.
    """
    from lkbridge.cli.probe import check_health

    code = check_health(bridge, auth_token, json_output, timeout, service, standard)
    if code:
        raise CliExit(code)


def status(
    user_id: str = typer.Argument(..., help="The user whose session to show."),
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = JsonOption,
    timeout: float = TimeoutOption,
) -> None:
    """GetStatus of one user's session (connected, participant, last disconnect)."""
    response = run_call(bridge, auth_token, timeout, lambda c: c.status(user_id))
    if json_output:
        print_json(message_dict(response))
        return
    last = (
        f"{response.last_disconnect_reason} at {response.last_disconnect_at}"
        if response.last_disconnect_at
        else "never"
    )
    print_rows(
        f"session of {user_id}",
        [
            ("connected", "yes" if response.connected else "no"),
            ("participant id", response.participant_id or "-"),
            ("participants", str(response.participant_count)),
            ("last disconnect", last),
            ("bridge version", response.server_version),
        ],
    )

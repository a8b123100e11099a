"""`lkbridge health` and `lkbridge status`: tables for people, --json for scripts."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.cli.common import (
    EXIT_NOT_SERVING,
    AuthOption,
    BridgeOption,
    JsonOption,
    TimeoutOption,
    message_dict,
    print_json,
    run_call,
)

console = Console()


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
    if standard:
        state = run_call(bridge, auth_token, timeout, lambda c: c.standard_health(service))
        if json_output:
            print_json({"status": state})
        else:
            print(state)
        if state != "SERVING":
            raise typer.Exit(EXIT_NOT_SERVING)
        return
    response: pb.HealthCheckResponse = run_call(
        bridge, auth_token, timeout, lambda c: c.health(service)
    )
    status = pb.HealthCheckResponse.ServingStatus.Name(response.status)
    if json_output:
        print_json(message_dict(response))
    else:
        table = Table(title=f"bridge health: {status}", show_header=False)
        table.add_row("status", status)
        table.add_row("active sessions", str(response.active_sessions))
        table.add_row("active streams", str(response.active_streams))
        table.add_row("uptime", f"{response.uptime_seconds} s")
        for key in sorted(response.metadata):
            table.add_row(key, response.metadata[key])
        console.print(table)
    if response.status != pb.HealthCheckResponse.SERVING:
        raise typer.Exit(EXIT_NOT_SERVING)


def status(
    user_id: str = typer.Argument(..., help="The user whose session to show."),
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = JsonOption,
    timeout: float = TimeoutOption,
) -> None:
    """GetStatus of one user's session (connected, participant, last disconnect)."""
    response: pb.BridgeStatusResponse = run_call(
        bridge, auth_token, timeout, lambda c: c.status(user_id)
    )
    if json_output:
        print_json(message_dict(response))
        return
    table = Table(title=f"session of {user_id}", show_header=False)
    table.add_row("connected", "yes" if response.connected else "no")
    table.add_row("participant id", response.participant_id or "-")
    table.add_row("participants", str(response.participant_count))
    table.add_row(
        "last disconnect",
        f"{response.last_disconnect_reason} at {response.last_disconnect_at}"
        if response.last_disconnect_at
        else "never",
    )
    table.add_row("bridge version", response.server_version)
    console.print(table)

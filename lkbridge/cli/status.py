"""`lkbridge health` and `lkbridge status`: plain tables for people, --json for scripts."""

from __future__ import annotations

from typing import Any

import typer

from lkbridge.cli.common import (
    AuthOption,
    BridgeOption,
    CliExit,
    JsonOption,
    TimeoutOption,
    message_dict,
    option,
    print_json,
    print_rows,
    run_call,
    session_not_found,
)
from lkbridge.cli.flags import SERVICE, STANDARD


def health(
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = JsonOption,
    timeout: float = TimeoutOption,
    service: str = option(SERVICE),
    standard: bool = option(STANDARD),
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
    """GetStatus of one user's session (connected, participant, last disconnect).

    A user without a session is an error, as in every other command: exit 3, `session not
    found: USER`.
    """
    from lkbridge.client import BridgeClient
    from lkbridge.errors import ClientError

    async def ask(client: BridgeClient) -> tuple[Any, bool]:
        response = await client.status(user_id)
        if response.connected or response.last_disconnect_at or response.participant_id:
            return response, True
        # GetStatus answers an unknown user as a disconnected one (the Go bridge's contract);
        # the admin service's list tells them apart, where the bridge has one
        try:
            found = await client.list_sessions()
        except ClientError:
            return response, True
        return response, any(s.user_id == user_id for s in found)

    response, known = run_call(bridge, auth_token, timeout, ask, user_id)
    if not known:
        raise session_not_found(user_id)
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

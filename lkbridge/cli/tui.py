"""`lkbridge tui`: the live dashboard."""

from __future__ import annotations

import typer

from lkbridge.cli.common import AuthOption, BridgeOption, resolve_auth, resolve_target


def tui(
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    interval: float = typer.Option(1.0, "--interval", help="Seconds between updates."),
) -> None:
    """A live dashboard: sessions, streams, tasks, memory, rates, and an event log."""
    from lkbridge.tui.app import BridgeDashboard

    BridgeDashboard(
        resolve_target(bridge),
        auth_token=resolve_auth(auth_token),
        interval_ms=int(interval * 1000),
    ).run()

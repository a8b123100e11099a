"""`lkbridge sessions`: every session of a bridge at a glance (the admin ListSessions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lkbridge.cli.common import (
    AuthOption,
    BridgeOption,
    JsonOption,
    TimeoutOption,
    message_dict,
    print_json,
    run_call,
)
from lkbridge.text import printable

if TYPE_CHECKING:
    from lkbridge._proto.lkbridge_admin_pb2 import SessionInfo

COLUMNS = ("USER", "ROOM", "STATE", "STREAMS", "PLAYBACKS", "FRAMES IN/OUT", "DROPS", "AGE")


def sessions(
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = JsonOption,
    timeout: float = TimeoutOption,
) -> None:
    """ListSessions: user, room, state, streams, playbacks, frames, drops and age of each."""
    found = run_call(bridge, auth_token, timeout, lambda c: c.list_sessions())
    if json_output:
        print_json([message_dict(s) for s in found])
        return
    if not found:
        print("no sessions")
        return
    rows = [COLUMNS, *(row(s) for s in sorted(found, key=lambda s: s.user_id))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def row(info: SessionInfo) -> tuple[str, ...]:
    """One line of the table: a client's strings with their control characters escaped (a
    newline would add a row, an ESC would drive the terminal)."""
    return (
        printable(info.user_id),
        printable(info.room) or "-",
        info.state or ("connected" if info.connected else "disconnected"),
        "1" if info.stream_open else "0",
        str(len(info.playbacks)),
        f"{info.frames_in}/{info.frames_out}",
        str(info.drops),
        age(info.age_s),
    )


def age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"

"""The selected session in full: what the table has no room for."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge.text import printable
from lkbridge.tui.figures import format_level, format_playback, level_in, level_out


def describe(session: admin_pb.SessionInfo, drops_per_s: float) -> Text:
    """The session as plain text: ids, rooms and reasons are a client's or the SFU's strings,
    shown as they are (never read as markup), their control characters escaped."""
    plays = "\n".join(f"  {format_playback(p)}" for p in session.playbacks)
    rest = (
        f"\nroom {session.room}\nparticipant {session.participant_id}\n"
        f"state {session.state}, {session.participant_count} in the room\n"
        f"tracks {', '.join(session.tracks) or '-'}\n"
        f"level in {format_level(level_in(session))}, out {format_level(level_out(session))} dBFS\n"
        f"queue {session.queue_bytes} B, drops {session.drops} ({drops_per_s:.1f}/s)\n"
        f"frames in {session.frames_in}, out {session.frames_out}\n"
        f"last disconnect {session.last_disconnect_reason or '-'}\n"
        f"playbacks:\n{plays or '  -'}"
    )
    lines = rest.split("\n")
    return Text.assemble(
        (printable(session.user_id), "bold"), "\n".join(printable(line) for line in lines)
    )


class SessionDetail(Static):
    DEFAULT_CSS = """
    SessionDetail { width: 34; border: round $accent-darken-2; padding: 0 1; }
    """

    session: reactive[admin_pb.SessionInfo | None] = reactive(None)
    drops_per_s: reactive[float] = reactive(0.0)

    def watch_session(self) -> None:
        self._show()

    def watch_drops_per_s(self) -> None:
        self._show()

    def _show(self) -> None:
        if self.session is None:
            self.update("select a session")
        else:
            self.update(describe(self.session, self.drops_per_s))

"""The event log: time-stamped lines of what changed, and the connection's troubles once each."""

from __future__ import annotations

import time
from collections.abc import Iterable

from textual.widgets import RichLog

from lkbridge.text import printable


class EventLog(RichLog):
    DEFAULT_CSS = """
    EventLog { height: 8; border: round $primary-darken-3; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        # wrapped, so a long error is read whole rather than cut at the border
        super().__init__(id=id, max_lines=500, markup=False, wrap=True)
        self._last_error: str | None = None

    def say(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(f"{time.strftime('%H:%M:%S')} {printable(line)}")  # markup off too

    def connection_lost(self, reason: str) -> None:
        """Say why, once: the watcher retries every second with the same error."""
        if reason != self._last_error:
            self._last_error = reason
            self.say([f"disconnected: {reason}"])

    def connection_ok(self) -> None:
        self._last_error = None

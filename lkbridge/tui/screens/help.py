"""The keys and what each column means."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from lkbridge.tui.figures import COLUMNS

KEYS = (
    ("q", "quit"),
    ("p", "pause the display (the log keeps going)"),
    ("/", "filter by user or room (Enter applies, empty clears)"),
    ("o", "sort by the next column (a header click sorts by it)"),
    ("r", "reverse the sort"),
    ("l", "leave the selected session (asks first)"),
    ("s", "stop the selected session's audio (asks first)"),
    ("?", "this help (Escape closes it)"),
)


def help_text() -> str:
    keys = "\n".join(f"  [b]{key:<3}[/b] {what}" for key, what in KEYS)
    columns = "\n".join(f"  [b]{c.title:<7}[/b] {c.help}" for c in COLUMNS)
    return f"[b]Keys[/b]\n{keys}\n\n[b]Columns[/b]\n{columns}"


class Help(ModalScreen[None]):
    DEFAULT_CSS = """
    Help { align: center middle; }
    Help > VerticalScroll {
        width: 80; height: auto; max-height: 90%; border: thick $primary;
        background: $surface; padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text(), id="help-text")

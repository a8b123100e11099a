"""Sparklines of the last minute: frames in and out per second, drops, tasks."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb

HISTORY = 60
SPARKS = (("in", "frames in/s"), ("out", "frames out/s"), ("drops", "drops"), ("tasks", "tasks"))


class Sparks(Horizontal):
    DEFAULT_CSS = """
    Sparks { height: 5; }
    Sparks .spark-box { width: 1fr; height: 5; border: round $secondary-darken-2; }
    Sparks Sparkline { height: 2; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history = {name: deque([0.0] * HISTORY, maxlen=HISTORY) for name, _ in SPARKS}

    def compose(self) -> ComposeResult:
        for name, title in SPARKS:
            with Vertical(classes="spark-box") as box:
                box.border_title = title
                yield Sparkline(list(self.history[name]), id=f"spark-{name}")

    def push(self, snap: admin_pb.StatsSnapshot) -> None:
        self.history["in"].append(sum(s.frames_in_per_s for s in snap.sessions))
        self.history["out"].append(sum(s.frames_out_per_s for s in snap.sessions))
        self.history["drops"].append(float(snap.totals.drops))
        self.history["tasks"].append(float(snap.process.tasks))
        for name, data in self.history.items():
            self.query_one(f"#spark-{name}", Sparkline).data = list(data)

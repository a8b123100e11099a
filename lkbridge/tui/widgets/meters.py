"""The header row: connection state and the bridge process's figures."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge.tui.figures import cpu_meter, cpu_refusing, sessions_meter

METERS = ("connection", "sessions", "streams", "tasks", "rss", "cpu", "uptime")


class Meters(Horizontal):
    DEFAULT_CSS = """
    Meters { height: 3; }
    Meters .meter {
        width: 1fr; height: 3; border: round $primary-darken-2;
        content-align: center middle; text-align: center;
    }
    Meters #m-connection { width: 20; }
    Meters #m-connection.down { color: $error; text-style: bold; }
    Meters #m-cpu.down { color: $error; text-style: bold; }
    """

    connected: reactive[bool] = reactive(False)
    latency_ms: reactive[float] = reactive(0.0)
    snapshot: reactive[admin_pb.StatsSnapshot | None] = reactive(None)

    def compose(self) -> ComposeResult:
        for meter in METERS:
            yield Static("-", id=f"m-{meter}", classes="meter")

    def on_mount(self) -> None:
        self._show_connection()

    def watch_connected(self) -> None:
        self._show_connection()

    def watch_latency_ms(self) -> None:
        self._show_connection()

    def _show_connection(self) -> None:
        meter = self.query_one("#m-connection", Static)
        meter.set_class(not self.connected, "down")
        meter.update(f"connected {self.latency_ms:.0f} ms" if self.connected else "disconnected")

    def watch_snapshot(self, snap: admin_pb.StatsSnapshot | None) -> None:
        if snap is None:
            return
        p, t = snap.process, snap.totals
        values = {
            "sessions": sessions_meter(t),
            "streams": f"streams {t.streams}",
            "tasks": f"tasks {p.tasks}",
            "rss": f"RSS {p.rss_mb:.0f} MB",
            "cpu": cpu_meter(p, t),
            "uptime": f"up {int(p.uptime_s)} s",
        }
        for key, text in values.items():
            self.query_one(f"#m-{key}", Static).update(text)
        self.query_one("#m-cpu", Static).set_class(cpu_refusing(t), "down")

"""The dashboard: header meters, sparklines, a filterable table of sessions, a detail pane for
the selected one, and an event log. All I/O runs in workers; the UI only renders messages."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Input, RichLog, Sparkline, Static

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge.client import BridgeClient
from lkbridge.errors import ClientError
from lkbridge.tui.changes import changes

HISTORY = 60
COLUMNS = ("user", "room", "conn", "peers", "stream", "in/s", "out/s", "drops", "plays", "age")


@dataclass
class StatsArrived(Message):
    snapshot: admin_pb.StatsSnapshot
    latency_ms: float


@dataclass
class ConnectionLost(Message):
    reason: str


_SORT_FIELDS = {
    "user": "user_id", "room": "room", "conn": "connected", "peers": "participant_count",
    "stream": "stream_open", "in/s": "frames_in_per_s", "out/s": "frames_out_per_s",
    "drops": "drops", "age": "age_s",
}  # fmt: skip


def _sort_key(column: str) -> Callable[[admin_pb.SessionInfo], Any]:
    if column == "plays":
        return lambda s: len(s.playbacks)
    field = _SORT_FIELDS.get(column, "user_id")
    return lambda s: getattr(s, field)


class BridgeDashboard(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "lkbridge"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("p", "pause", "Pause"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("l", "leave", "Leave session"),
        Binding("s", "stop_audio", "Stop audio"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(
        self, target: str, *, auth_token: str | None = None, interval_ms: int = 1000
    ) -> None:
        super().__init__()
        self.target = target
        self.interval_ms = interval_ms
        self._auth_token = auth_token
        self._client: BridgeClient | None = None
        self.snapshot: admin_pb.StatsSnapshot | None = None
        self.connected = False
        self.paused = False
        self.filter_text = ""
        self.sort_column = "user"
        self.sort_reverse = False
        self.history: dict[str, deque[float]] = {
            name: deque([0.0] * HISTORY, maxlen=HISTORY) for name in ("in", "out", "drops", "tasks")
        }

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="meters"):
            for meter in ("connection", "sessions", "streams", "tasks", "rss", "cpu", "uptime"):
                yield Static("-", id=f"m-{meter}", classes="meter")
        with Horizontal(id="sparks"):
            for name, title in (("in", "frames in/s"), ("out", "frames out/s"),
                                ("drops", "drops"), ("tasks", "tasks")):  # fmt: skip
                with Vertical(classes="spark-box") as box:
                    box.border_title = title
                    yield Sparkline(list(self.history[name]), id=f"spark-{name}")
        # disabled while hidden, or it would take the focus and swallow every key
        yield Input(
            placeholder="filter by user or room, Enter to apply", id="filter", disabled=True
        )
        with Horizontal(id="middle"):
            yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
            yield Static("select a session", id="detail")
        yield RichLog(id="log", max_lines=500, markup=False)
        yield Footer()

    @property
    def client(self) -> BridgeClient:
        """Made on first use inside the app's own loop (a grpc.aio channel is bound to one)."""
        if self._client is None:
            self._client = BridgeClient(self.target, auth_token=self._auth_token, timeout=5)
        return self._client

    def on_mount(self) -> None:
        self.sub_title = self.target
        table = self.query_one("#sessions", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self.watch_bridge()

    # -- background I/O ----------------------------------------------------------------------

    @work(exclusive=True, group="watch")
    async def watch_bridge(self) -> None:
        """Stream snapshots; on any failure say so, wait, and reconnect."""
        while True:
            try:
                asked = time.monotonic()
                async for snapshot in self.client.watch_stats(self.interval_ms):
                    latency = (time.monotonic() - asked) * 1000
                    self.post_message(StatsArrived(snapshot, latency))
                    asked = time.monotonic() + self.interval_ms / 1000
                self.post_message(ConnectionLost("the bridge ended the stream"))
            except ClientError as exc:
                self.post_message(ConnectionLost(f"{exc.code}: {exc.details}"))
            await asyncio.sleep(1.0)

    @work(group="actions")
    async def _leave(self, user_id: str) -> None:
        try:
            response = await self.client.leave(user_id, "left from lkbridge tui")
            self.notify(f"left: {user_id}" if response.success else response.error)
        except ClientError as exc:
            self.notify(f"leave failed: {exc}", severity="error")

    @work(group="actions")
    async def _stop(self, user_id: str) -> None:
        try:
            response = await self.client.stop(user_id, track_id=-1, reason="stopped from tui")
            self.notify(f"stopped: {response.stopped_request_id or 'nothing playing'}")
        except ClientError as exc:
            self.notify(f"stop failed: {exc}", severity="error")

    # -- messages ------------------------------------------------------------------------------

    @on(StatsArrived)
    def _stats(self, message: StatsArrived) -> None:
        if not self.is_running or not self.screen.is_mounted:
            return
        previous, self.snapshot = self.snapshot, message.snapshot
        if not self.connected:
            self.connected = True
        log = self.query_one("#log", RichLog)
        for line in changes(previous, message.snapshot):
            log.write(f"{time.strftime('%H:%M:%S')} {line}")
        if self.paused:
            return
        self._render(message.snapshot, message.latency_ms)

    @on(ConnectionLost)
    def _lost(self, message: ConnectionLost) -> None:
        if not self.is_running or not self.query("#log"):
            return
        if self.connected or self.snapshot is None:
            self.query_one("#log", RichLog).write(
                f"{time.strftime('%H:%M:%S')} disconnected: {message.reason}"
            )
        self.connected = False
        self.snapshot = None
        meter = self.query_one("#m-connection", Static)
        meter.update("disconnected")
        meter.add_class("down")

    def _render(self, snap: admin_pb.StatsSnapshot, latency_ms: float) -> None:
        p, t = snap.process, snap.totals
        connection = self.query_one("#m-connection", Static)
        connection.remove_class("down")
        connection.update(f"connected {latency_ms:.0f} ms")
        values = {
            "sessions": f"sessions {t.sessions}",
            "streams": f"streams {t.streams}",
            "tasks": f"tasks {p.tasks}",
            "rss": f"RSS {p.rss_mb:.0f} MB",
            "cpu": f"CPU {p.cpu_percent:.0f} %",
            "uptime": f"up {int(p.uptime_s)} s",
        }
        for key, text in values.items():
            self.query_one(f"#m-{key}", Static).update(text)
        self.history["in"].append(sum(s.frames_in_per_s for s in snap.sessions))
        self.history["out"].append(sum(s.frames_out_per_s for s in snap.sessions))
        self.history["drops"].append(float(t.drops))
        self.history["tasks"].append(float(p.tasks))
        for name, data in self.history.items():
            self.query_one(f"#spark-{name}", Sparkline).data = list(data)
        self._render_table(snap)

    def _render_table(self, snap: admin_pb.StatsSnapshot) -> None:
        table = self.query_one("#sessions", DataTable)
        selected = self.selected_user()
        table.clear()
        needle = self.filter_text.lower()
        for s in sorted(snap.sessions, key=_sort_key(self.sort_column), reverse=self.sort_reverse):
            if needle and needle not in s.user_id.lower() and needle not in s.room.lower():
                continue
            table.add_row(
                s.user_id, s.room, "yes" if s.connected else "NO", str(s.participant_count),
                "open" if s.stream_open else "-", f"{s.frames_in_per_s:.1f}",
                f"{s.frames_out_per_s:.1f}", str(s.drops), str(len(s.playbacks)), f"{s.age_s:.0f}s",
                key=s.user_id,
            )  # fmt: skip
        if selected and selected in {str(k.value) for k in table.rows}:
            table.move_cursor(row=table.get_row_index(selected))
        self._render_detail()

    def _render_detail(self) -> None:
        detail = self.query_one("#detail", Static)
        user = self.selected_user()
        session = next((s for s in (self.snapshot.sessions if self.snapshot else [])
                        if s.user_id == user), None)  # fmt: skip
        if session is None:
            detail.update("select a session")
            return
        plays = "\n".join(
            f"  {p.request_id} {p.track} {p.position_ms / 1000:.1f}/{p.duration_ms / 1000:.1f} s"
            for p in session.playbacks
        )
        detail.update(
            f"[b]{session.user_id}[/b]\nroom {session.room}\nparticipant {session.participant_id}\n"
            f"state {session.state}\ntracks {', '.join(session.tracks) or '-'}\n"
            f"queue {session.queue_bytes} B, drops {session.drops}\n"
            f"frames in {session.frames_in}, out {session.frames_out}\n"
            f"last disconnect {session.last_disconnect_reason or '-'}\n"
            f"playbacks:\n{plays or '  -'}"
        )

    def selected_user(self) -> str | None:
        table = self.query_one("#sessions", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    @on(DataTable.HeaderSelected)
    def _sort(self, event: DataTable.HeaderSelected) -> None:
        """Click a header to sort by it; click again to reverse."""
        column = str(event.column_key.value)
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        if self.snapshot is not None:
            self._render_table(self.snapshot)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._render_detail()

    # -- actions -------------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.sub_title = f"{self.target} (paused)" if self.paused else self.target

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.disabled = False
        box.add_class("visible")
        box.focus()

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        self.filter_text = event.value.strip()
        event.input.remove_class("visible")
        event.input.disabled = True
        self.query_one("#sessions", DataTable).focus()
        if self.snapshot is not None:
            self._render_table(self.snapshot)

    def action_leave(self) -> None:
        user = self.selected_user()
        if user:
            self._leave(user)

    def action_stop_audio(self) -> None:
        user = self.selected_user()
        if user:
            self._stop(user)

    def action_help(self) -> None:
        self.notify(
            "q quit - p pause - / filter - l leave the selected session - "
            "s stop its audio - arrows select",
            title="keys",
            timeout=8,
        )

    async def on_unmount(self) -> None:
        if self._client is not None:
            await self._client.aclose()

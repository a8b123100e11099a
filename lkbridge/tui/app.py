"""The dashboard app and its main screen: meters, sparklines, the sessions table with a detail
pane for the selected one, and an event log. All I/O runs in workers that post messages; the
widgets only render what those messages carry."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import DataTable, Footer, Header, Input

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge.client import BridgeClient
from lkbridge.errors import ClientError
from lkbridge.tui.changes import EventFeed
from lkbridge.tui.figures import DropRates, PollLatency
from lkbridge.tui.messages import ConnectionLost, StatsArrived
from lkbridge.tui.screens.confirm import Confirm
from lkbridge.tui.screens.help import Help
from lkbridge.tui.widgets.detail import SessionDetail
from lkbridge.tui.widgets.eventlog import EventLog
from lkbridge.tui.widgets.meters import Meters
from lkbridge.tui.widgets.sessions import SessionTable, shown
from lkbridge.tui.widgets.sparks import Sparks

RETRY_S = 1.0

__all__ = ["BridgeDashboard", "ConnectionLost", "StatsArrived"]


class BridgeDashboard(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "lkbridge"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("p", "pause", "Pause"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("o", "sort", "Sort"),
        Binding("r", "reverse", "Reverse"),
        Binding("l", "leave", "Leave"),
        Binding("s", "stop_audio", "Stop audio"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    connected: reactive[bool] = reactive(False)
    paused: reactive[bool] = reactive(False)

    def __init__(
        self, target: str, *, auth_token: str | None = None, interval_ms: int = 1000
    ) -> None:
        super().__init__()
        self.target = target
        self.interval_ms = interval_ms
        self._auth_token = auth_token
        self._client: BridgeClient | None = None
        self.snapshot: admin_pb.StatsSnapshot | None = None
        self.drop_rates: dict[str, float] = {}
        self._feed = EventFeed()
        self._drops = DropRates()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Meters(id="meters")
        yield Sparks(id="sparks")
        # disabled while hidden, or it would take the focus and swallow every key
        yield Input(
            placeholder="filter by user or room, Enter to apply", id="filter", disabled=True
        )
        with Horizontal(id="middle"):
            yield SessionTable(id="sessions")
            yield SessionDetail("select a session", id="detail")
        yield EventLog(id="log")
        yield Footer()

    @property
    def client(self) -> BridgeClient:
        """Made on first use inside the app's own loop (a grpc.aio channel is bound to one)."""
        if self._client is None:
            self._client = BridgeClient(self.target, auth_token=self._auth_token, timeout=5)
        return self._client

    @property
    def table(self) -> SessionTable:
        return self.query_one(SessionTable)

    def on_mount(self) -> None:
        self.sub_title = self.target
        self.table.focus()
        self.watch_bridge()

    # -- background I/O ----------------------------------------------------------------------

    @work(exclusive=True, group="watch")
    async def watch_bridge(self) -> None:
        """Stream snapshots; on any failure say so, wait, and reconnect."""
        latency = PollLatency()
        while True:
            latency.connect()
            called = time.monotonic()
            try:
                async for snapshot in self.client.watch_stats(self.interval_ms):
                    ms = latency.arrived(called, time.monotonic(), snapshot.timestamp_ms)
                    self.post_message(StatsArrived(snapshot, ms))
                self.post_message(ConnectionLost("the bridge ended the stream"))
            except ClientError as exc:
                self.post_message(ConnectionLost(f"{exc.code}: {exc.details}"))
            await asyncio.sleep(RETRY_S)

    @work(group="actions")
    async def _leave(self, user_id: str) -> None:
        try:
            response = await self.client.leave(user_id, "left from lkbridge tui")
            self.notify(shown(f"left: {user_id}" if response.success else response.error))
        except ClientError as exc:
            self.notify(shown(f"leave failed: {exc}"), severity="error")

    @work(group="actions")
    async def _stop(self, user_id: str) -> None:
        try:
            response = await self.client.stop(user_id, track_id=-1, reason="stopped from tui")
            self.notify(shown(f"stopped: {response.stopped_request_id or 'nothing playing'}"))
        except ClientError as exc:
            self.notify(shown(f"stop failed: {exc}"), severity="error")

    # -- messages ------------------------------------------------------------------------------

    @on(StatsArrived)
    def _stats(self, message: StatsArrived) -> None:
        if not self.is_running or not self.query(EventLog):
            return
        snap = message.snapshot
        self.snapshot, self.connected = snap, True
        self.drop_rates = self._drops.feed(snap)
        log = self.query_one(EventLog)
        log.connection_ok()
        log.say(self._feed.feed(snap))
        meters = self.query_one(Meters)
        meters.connected, meters.latency_ms = True, message.latency_ms
        if self.paused:
            return
        meters.snapshot = snap
        self.query_one(Sparks).push(snap)
        self.table.show(list(snap.sessions), self.drop_rates)
        self._show_detail()

    @on(ConnectionLost)
    def _lost(self, message: ConnectionLost) -> None:
        if not self.is_running or not self.query(EventLog):
            return
        self.connected = False
        self.snapshot = None
        self._feed.disconnected()
        self.query_one(EventLog).connection_lost(message.reason)
        self.query_one(Meters).connected = False

    def _show_detail(self) -> None:
        user = self.table.selected_user
        sessions = self.snapshot.sessions if self.snapshot else []
        detail = self.query_one(SessionDetail)
        detail.session = next((s for s in sessions if s.user_id == user), None)
        detail.drops_per_s = self.drop_rates.get(user or "", 0.0)

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.table.sort_by(str(event.column_key.value))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    # -- actions -------------------------------------------------------------------------------

    def watch_paused(self, paused: bool) -> None:
        self.sub_title = f"{self.target} (paused)" if paused else self.target

    def action_pause(self) -> None:
        self.paused = not self.paused

    def action_sort(self) -> None:
        self.table.cycle_sort()

    def action_reverse(self) -> None:
        self.table.sort_reverse = not self.table.sort_reverse

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.disabled = False
        box.add_class("visible")
        box.focus()

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        event.input.remove_class("visible")
        event.input.disabled = True
        self.table.focus()
        self.table.filter_text = event.value.strip()

    def action_leave(self) -> None:
        user = self.table.selected_user
        if user:
            question = f"Leave the session of {shown(user)}? Its room connection and audio end."

            def answered(yes: bool | None) -> None:
                if yes:
                    self._leave(user)

            self.push_screen(Confirm(question), answered)

    def action_stop_audio(self) -> None:
        user = self.table.selected_user
        if user:
            question = f"Stop all audio playing for {shown(user)}?"

            def answered(yes: bool | None) -> None:
                if yes:
                    self._stop(user)

            self.push_screen(Confirm(question), answered)

    def action_help(self) -> None:
        self.push_screen(Help())

    async def on_unmount(self) -> None:
        if self._client is not None:
            await self._client.aclose()

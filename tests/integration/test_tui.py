"""The dashboard driven by textual's Pilot against a real bridge, real sessions, real audio."""

from __future__ import annotations

import asyncio
import re
import statistics
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from lkbridge.audio.signal import dbfs, tone
from lkbridge.cli.fileserver import OneFileServer
from lkbridge.client import BridgeClient
from lkbridge.devstack.ports import free_port
from lkbridge.devstack.tonefile import make_tone_file
from lkbridge.errors import ClientError
from lkbridge.tui.app import BridgeDashboard
from lkbridge.tui.changes import DROPS_QUIET_MS
from lkbridge.tui.screens.confirm import Confirm
from lkbridge.tui.widgets.detail import SessionDetail
from lkbridge.tui.widgets.eventlog import EventLog
from lkbridge.tui.widgets.meters import Meters
from lkbridge.tui.widgets.sessions import SessionTable
from tests.conftest import BridgeFactory, DeviceFactory

TONE_FILE_DBFS = dbfs(tone(500, 1.0, amplitude=1 / 8))  # make_tone_file's level, about -21


async def settle(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "the dashboard never showed it"
        await pilot.pause(0.1)


def table(app: BridgeDashboard) -> SessionTable:
    return app.query_one(SessionTable)


def rows(app: BridgeDashboard) -> set[str]:
    return set(table(app).shown_users)


def cell(app: BridgeDashboard, user: str, column: str) -> str:
    return str(table(app).get_cell(user, column))


def log_text(app: BridgeDashboard) -> str:
    return "\n".join(str(line.text) for line in app.query_one(EventLog).lines)


def meter(app: BridgeDashboard, name: str) -> str:
    return str(app.query_one(Meters).query_one(f"#m-{name}").content)  # type: ignore[attr-defined]


def detail(app: BridgeDashboard) -> str:
    return str(app.query_one(SessionDetail).content)


def select(app: BridgeDashboard, user: str) -> None:
    table(app).move_cursor(row=table(app).get_row_index(user))


async def answer(pilot: Pilot[None], app: BridgeDashboard, key: str, reply: str) -> None:
    """Press an action key, check it asks first, and reply."""
    await pilot.press(key)
    await settle(pilot, lambda: isinstance(app.screen, Confirm))
    await pilot.press(reply)
    await settle(pilot, lambda: not isinstance(app.screen, Confirm))


async def test_sessions_appear_leave_and_stop_ask_first_and_the_bridge_restarts(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, room_name: str, tmp_path: Path
) -> None:
    bridge = await bridge_factory()
    await device_factory(room_name, "device")
    app = BridgeDashboard(bridge.target, interval_ms=200)
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot, lambda: app.connected)
        await bridge.join("tui1", room_name)
        await bridge.join("tui2", room_name)
        await settle(pilot, lambda: rows(app) == {"tui1", "tui2"})
        health = await bridge.client.health()
        limit = health.metadata["max_sessions"]
        # the table can show tui2 from a snapshot taken while its join still held its slot
        # ("sessions 2/20 +1 joining"): the meter is read once the bridge counts no join
        await settle(pilot, lambda: meter(app, "sessions") == f"sessions 2/{limit}")
        assert health.active_sessions == 2 and "join: tui1" in log_text(app)

        # a WAV playback: the bridge learns no length from a stream, so the detail shows "?";
        # its level reaches the table as what the session sends to the room
        select(app, "tui2")
        clip = make_tone_file(tmp_path / "long.wav", 500, 8.0)
        with OneFileServer(clip) as served:
            events = bridge.client.play("tui2", served.url, request_id="tui-play")
            assert (await anext(events)).type == 0  # STARTED
            await settle(pilot, lambda: "play: tui2 tui-play" in log_text(app))
            await settle(pilot, lambda: cell(app, "tui2", "dB in") != "-")
            assert abs(float(cell(app, "tui2", "dB in")) - TONE_FILE_DBFS) < 2.0
            await settle(pilot, lambda: re.search(r"tui-play speaker \d+\.\d/\? s", detail(app)))
            assert "/0.0 s" not in detail(app)

            # `s` asks first: "n" leaves the playback alone, "y" stops it
            await answer(pilot, app, "s", "n")
            await pilot.pause(0.5)
            assert bridge.server.registry.get("tui2").playbacks  # type: ignore[union-attr]
            await answer(pilot, app, "s", "y")
            last = [event async for event in events][-1]
        assert last.error.startswith("stopped: stopped from tui")

        await bridge.client.leave("tui2")
        await settle(pilot, lambda: rows(app) == {"tui1"})
        assert "leave: tui2" in log_text(app)

        # `/` filters the table; `l` asks, then leaves the selected session through the bridge
        await bridge.join("other", room_name)
        await settle(pilot, lambda: rows(app) == {"tui1", "other"})
        await pilot.press("slash", "t", "u", "i", "enter")
        await settle(pilot, lambda: rows(app) == {"tui1"})
        assert app.focused is table(app)
        await answer(pilot, app, "l", "escape")
        await pilot.pause(0.5)
        assert bridge.server.registry.get("tui1") is not None, "escape answered no"
        await answer(pilot, app, "l", "y")
        await settle(pilot, lambda: bridge.server.registry.get("tui1") is None)
        await settle(pilot, lambda: rows(app) == set())
        assert bridge.server.registry.get("other") is not None, "only the selected one left"
        await bridge.client.leave("other")

        # the bridge goes away: "disconnected"; it comes back on the same port: recovered
        port = bridge.server.port
        await bridge.server.shutdown()
        await settle(pilot, lambda: not app.connected)
        assert meter(app, "connection") == "disconnected"
        from lkbridge.server.config import BridgeConfig
        from lkbridge.server.grpc.server import BridgeServer

        again = BridgeServer(BridgeConfig(host="127.0.0.1", port=port))
        await again.start()
        try:
            await settle(pilot, lambda: app.connected, timeout=15)
            assert meter(app, "connection").startswith("connected")
        finally:
            await again.shutdown()


async def test_sort_by_any_column_and_reverse_keep_the_selection(
    bridge_factory: BridgeFactory, room_name: str
) -> None:
    bridge = await bridge_factory()
    app = BridgeDashboard(bridge.target, interval_ms=100)
    shown_latency = []
    async with app.run_test(size=(140, 45)) as pilot:
        for user in ("s-b", "s-a", "s-c"):  # joined in this order: s-b is the oldest
            await bridge.join(user, room_name)
            await pilot.pause(0.5)  # ages apart by more than the bridge's 0.1 s rounding
        await settle(pilot, lambda: rows(app) == {"s-a", "s-b", "s-c"})
        assert table(app).shown_users == ["s-a", "s-b", "s-c"]
        select(app, "s-a")

        await pilot.press("r")
        assert table(app).shown_users == ["s-c", "s-b", "s-a"]
        assert str(table(app).columns["user"].label) == "user▼"  # type: ignore[index]

        while table(app).sort_column != "age":  # `o` steps through every column
            await pilot.press("o")
            shown_latency.append(meter(app, "connection"))
        assert str(table(app).columns["age"].label) == "age▲"  # type: ignore[index]
        assert str(table(app).columns["user"].label) == "user"  # type: ignore[index]
        assert table(app).shown_users == ["s-c", "s-a", "s-b"]  # youngest first
        await pilot.press("r")
        assert table(app).shown_users == ["s-b", "s-a", "s-c"]
        assert table(app).selected_user == "s-a", "the cursor follows its session"

        # a new snapshot keeps the order and updates the rows in place
        before = {user: table(app).get_row_index(user) for user in ("s-a", "s-b", "s-c")}
        for _ in range(10):
            await pilot.pause(0.1)
            shown_latency.append(meter(app, "connection"))
        assert {u: table(app).get_row_index(u) for u in before} == before
        assert table(app).selected_user == "s-a"

        # a click on a header sorts by that column; a second click reverses it
        columns = list(table(app).columns.values())
        x = columns[0].get_render_width(table(app)) + 2  # inside the "room" header
        await pilot.click(SessionTable, offset=(x, 0))
        assert (table(app).sort_column, table(app).sort_reverse) == ("room", False)
        await pilot.click(SessionTable, offset=(x, 0))
        assert (table(app).sort_column, table(app).sort_reverse) == ("room", True)

        # the help screen lists the keys and columns; escape closes it
        await pilot.press("question_mark")
        await settle(pilot, lambda: app.screen.query("#help-text").first() is not None)
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen.query(SessionTable).first() is not None)
    assert all(re.fullmatch(r"connected \d+ ms", text) for text in shown_latency), shown_latency


async def test_a_session_nobody_reads_shows_its_level_and_drop_rate_and_logs_once(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, room_name: str
) -> None:
    bridge = await bridge_factory()
    device = await device_factory(room_name, "device")
    app = BridgeDashboard(bridge.target, interval_ms=200)
    async with app.run_test(size=(140, 45)) as pilot:
        await bridge.join("quiet", room_name)
        await settle(pilot, lambda: rows(app) == {"quiet"})
        loud = tone(440, 12.0, amplitude=0.5)  # about -9 dBFS, 10 packets/s, no stream reads it
        sending = asyncio.create_task(device.send_packets(loud))
        try:
            await settle(pilot, lambda: float(cell(app, "quiet", "drop/s")) > 0, timeout=15)
            # several seconds of drops: one line, not one per snapshot
            await settle(pilot, lambda: int(cell(app, "quiet", "drops")) >= 40, timeout=15)
            assert abs(float(cell(app, "quiet", "dB out")) - dbfs(loud)) < 1.5
            readings = []
            for _ in range(8):
                readings.append(float(cell(app, "quiet", "drop/s")))
                await pilot.pause(0.25)
            # the device's 10 packets/s, within generous bounds on a loaded machine
            assert 3.0 <= statistics.median(readings) <= 30.0, readings
            drop_lines = [line for line in log_text(app).splitlines() if "drops: quiet" in line]
            assert len(drop_lines) == 1, drop_lines
            assert "dropping room audio (no stream reads it)" in drop_lines[0]
        finally:
            await sending
        await settle(pilot, lambda: "stopped dropping" in log_text(app), DROPS_QUIET_MS / 1000 + 5)
        await settle(pilot, lambda: cell(app, "quiet", "dB out") == "-")
        assert cell(app, "quiet", "drop/s") == "0.0"
        drop_lines = [line for line in log_text(app).splitlines() if "drops: quiet" in line]
        assert len(drop_lines) == 2, drop_lines


async def test_a_connection_error_is_shown_once_and_whole() -> None:
    target = f"127.0.0.1:{free_port()}"  # nobody listens there
    client = BridgeClient(target, timeout=5)
    try:
        async for _ in client.watch_stats(200):
            raise AssertionError("nothing should answer")
    except ClientError as exc:
        reason = f"{exc.code}: {exc.details}"
    finally:
        await client.aclose()
    app = BridgeDashboard(target, interval_ms=200)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot, lambda: "disconnected:" in log_text(app))
        await pilot.pause(3.5)  # the watcher retried about three times meanwhile
        assert meter(app, "connection") == "disconnected"
        log = app.query_one(EventLog)
        assert log_text(app).count("disconnected:") == 1
        assert len(reason) > log.size.width, "long enough that cutting it would have shown"
        whole = " ".join(log_text(app).split())
        assert f"disconnected: {' '.join(reason.split())}" in whole

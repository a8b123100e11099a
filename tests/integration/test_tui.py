"""The dashboard driven by textual's Pilot against a real bridge and real sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.widgets import DataTable, RichLog, Static

from lkbridge.cli.fileserver import OneFileServer
from lkbridge.devstack.tonefile import make_tone_file
from lkbridge.tui.app import BridgeDashboard
from lkbridge.tui.changes import changes
from tests.conftest import BridgeFactory, DeviceFactory


async def settle(pilot: object, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "the dashboard never showed it"
        await pilot.pause(0.1)  # type: ignore[attr-defined]


def rows(app: BridgeDashboard) -> set[str]:
    table = app.query_one("#sessions", DataTable)
    return {str(key.value) for key in table.rows}


def log_text(app: BridgeDashboard) -> str:
    return "\n".join(str(line.text) for line in app.query_one("#log", RichLog).lines)


async def test_sessions_appear_leave_and_the_bridge_restarts(
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
        sessions_meter = str(app.query_one("#m-sessions", Static).content)
        assert sessions_meter == f"sessions {health.active_sessions}"
        assert "join: tui1" in log_text(app)

        # s stops the selected session's audio: a playback in progress ends "stopped"
        table = app.query_one("#sessions", DataTable)
        table.move_cursor(row=table.get_row_index("tui2"))
        clip = make_tone_file(tmp_path / "long.wav", 500, 8.0)
        with OneFileServer(clip) as served:
            events = bridge.client.play("tui2", served.url, request_id="tui-play")
            assert (await anext(events)).type == 0  # STARTED
            await settle(pilot, lambda: "play: tui2 tui-play" in log_text(app))
            await pilot.press("s")
            last = [event async for event in events][-1]
        assert last.error.startswith("stopped: stopped from tui")

        await bridge.client.leave("tui2")
        await settle(pilot, lambda: rows(app) == {"tui1"})
        assert "leave: tui2" in log_text(app)

        # `/` filters the table; the `l` key leaves the selected session through the bridge
        await bridge.join("other", room_name)
        await settle(pilot, lambda: rows(app) == {"tui1", "other"})
        await pilot.press("slash", "t", "u", "i", "enter")
        await settle(pilot, lambda: rows(app) == {"tui1"})
        assert app.focused is app.query_one("#sessions", DataTable)
        await pilot.press("l")
        await settle(pilot, lambda: bridge.server.registry.get("tui1") is None)
        await settle(pilot, lambda: rows(app) == set())
        assert bridge.server.registry.get("other") is not None, "only the selected one left"
        await bridge.client.leave("other")

        # the bridge goes away: "disconnected"; it comes back on the same port: recovered
        port = bridge.server.port
        await bridge.server.shutdown()
        await settle(pilot, lambda: not app.connected)
        assert str(app.query_one("#m-connection", Static).content) == "disconnected"
        from lkbridge.server.app import BridgeServer
        from lkbridge.server.config import BridgeConfig

        again = BridgeServer(BridgeConfig(host="127.0.0.1", port=port))
        await again.start()
        try:
            await settle(pilot, lambda: app.connected, timeout=15)
            assert str(app.query_one("#m-connection", Static).content).startswith("connected")
        finally:
            await again.shutdown()


def test_changes_between_snapshots() -> None:
    from lkbridge._proto import lkbridge_admin_pb2 as admin_pb

    a = admin_pb.StatsSnapshot(sessions=[admin_pb.SessionInfo(user_id="u", connected=True)])
    b = admin_pb.StatsSnapshot(
        sessions=[
            admin_pb.SessionInfo(
                user_id="u", connected=False, last_disconnect_reason="SERVER_SHUTDOWN",
                playbacks=[admin_pb.PlaybackInfo(request_id="r1", track="tts")], drops=3,
            ),
            admin_pb.SessionInfo(user_id="v", room="room-1"),
        ],
        totals=admin_pb.Totals(errors=2),
    )  # fmt: skip
    assert changes(None, a) == ["connected: 1 session(s)"]
    assert changes(a, b) == [
        "join: v in room-1",
        "disconnected: u (SERVER_SHUTDOWN)",
        "play: u r1 on tts",
        "drops: u +3 (slow reader)",
        "errors: +2",
    ]

"""The dashboard's main screen, rendered from a fixed snapshot and compared with a stored copy.

Our own snapshot fixture (pytest-textual-snapshot pins a syrupy that breaks on pytest 9). It
compares the SVG screenshot's text runs (what is written where, in order), not its styles:
the colours textual picks depend on the environment (they differ under CI=true).
A missing reference is a failure, not a fresh copy. Regenerate it after a deliberate UI change,
then read the diff before committing it:
    LKBRIDGE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_tui_snapshot.py
"""

from __future__ import annotations

import html
import os
import re
import sys
from pathlib import Path

import pytest

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge.tui.app import BridgeDashboard, StatsArrived
from lkbridge.tui.widgets.sessions import SessionTable

STORED = Path(__file__).resolve().parent.parent / "snapshots" / "tui_main.txt"
REGENERATE = "LKBRIDGE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_tui_snapshot.py"


def fixed_snapshot() -> admin_pb.StatsSnapshot:
    return admin_pb.StatsSnapshot(
        timestamp_ms=1_800_000_000_000,
        process=admin_pb.ProcessStats(uptime_s=3723, rss_mb=118.5, cpu_percent=12.0, threads=19,
                                      tasks=24, open_fds=49, loop_lag_ms=0.8, version="0.1.0"),
        totals=admin_pb.Totals(sessions=2, streams=1, playbacks=2, frames_in=1200,
                               frames_out=1190, drops=0, errors=0, sessions_created=2),
        sessions=[
            admin_pb.SessionInfo(
                user_id="alice", room="room-a", participant_id="PA_alice", connected=True,
                participant_count=2, tracks=["speaker", "tts"], stream_open=True,
                frames_in_per_s=10.0, frames_out_per_s=10.0, age_s=120, state="connected",
                frames_in=1200, frames_out=1190, level_in_dbfs=-18.2, level_out_dbfs=-23.6,
                playbacks=[admin_pb.PlaybackInfo(request_id="tts-1", track="tts",
                                                 position_ms=1500, duration_ms=4000,
                                                 state="playing"),
                           admin_pb.PlaybackInfo(request_id="live-1", track="music",
                                                 position_ms=2600, state="playing")],
            ),
            admin_pb.SessionInfo(
                user_id="bob", room="room-b", participant_id="PA_bob", connected=False,
                participant_count=0, state="disconnected", age_s=300,
                last_disconnect_reason="SERVER_SHUTDOWN",
            ),
        ],
    )  # fmt: skip


def normalise(svg: str) -> str:
    """The screenshot's text runs, one per line, with the log's clock times masked."""
    runs = [
        html.unescape(t).replace("\xa0", " ") for t in re.findall(r"<text[^>]*>(.*?)</text>", svg)
    ]
    return re.sub(r"\d\d:\d\d:\d\d", "HH:MM:SS", "\n".join(runs)) + "\n"


async def test_main_screen_matches_the_stored_snapshot() -> None:
    app = BridgeDashboard("127.0.0.1:1", interval_ms=60_000)
    app.watch_bridge = lambda: None  # type: ignore[assignment,method-assign]  # no I/O: fixed data
    async with app.run_test(size=(120, 36)) as pilot:
        app.post_message(StatsArrived(fixed_snapshot(), 3.0))
        # until drawn whole and settled: the footer's keys fill in late on a loaded machine
        # (their widgets exist a while before their text is drawn), so the screen itself is
        # read until two looks agree and the footer's last key is on it
        svg, previous = "", None
        for _ in range(400):
            if app.query_one(SessionTable).row_count == 2:
                svg = normalise(app.export_screenshot())
                if svg == previous and "palette" in svg:
                    break
                previous = svg
            await pilot.pause(0.05)
    if os.environ.get("LKBRIDGE_UPDATE_SNAPSHOTS"):
        STORED.write_text(svg)
    assert STORED.exists(), f"no reference at {STORED}: {REGENERATE}"
    assert svg == STORED.read_text(), f"the main screen changed: compare with {STORED}"


async def test_a_missing_reference_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LKBRIDGE_UPDATE_SNAPSHOTS", raising=False)
    monkeypatch.setattr(sys.modules[__name__], "STORED", tmp_path / "absent.txt")
    with pytest.raises(AssertionError, match="no reference at"):
        await test_main_screen_matches_the_stored_snapshot()
    assert not (tmp_path / "absent.txt").exists()

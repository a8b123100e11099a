"""The dashboard's rules as pure logic: rates, levels, sorting, playback text, log lines."""

from __future__ import annotations

import math

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge.tui.changes import DROPS_QUIET_MS, EventFeed
from lkbridge.tui.figures import (
    COLUMN_KEYS,
    DropRates,
    PollLatency,
    cells,
    cpu_meter,
    cpu_refusing,
    format_playback,
    next_column,
    sessions_meter,
    sort_key,
)


def session(user: str, **fields: object) -> admin_pb.SessionInfo:
    return admin_pb.SessionInfo(user_id=user, **fields)  # type: ignore[arg-type]


def snap(
    ts_ms: int, *sessions: admin_pb.SessionInfo, errors: int = 0, stalls: int = 0, drops_in: int = 0
) -> admin_pb.StatsSnapshot:
    totals = admin_pb.Totals(errors=errors, stalls=stalls, drops_in=drops_in)
    return admin_pb.StatsSnapshot(timestamp_ms=ts_ms, sessions=sessions, totals=totals)


def test_drop_rates_are_per_second_over_a_window_of_the_bridges_clock() -> None:
    rates = DropRates()
    assert rates.feed(snap(0, session("u", drops=0))) == {"u": 0.0}
    assert rates.feed(snap(500, session("u", drops=5))) == {"u": 0.0}  # window not yet full
    assert rates.feed(snap(2000, session("u", drops=20))) == {"u": 10.0}
    assert rates.feed(snap(3000, session("u", drops=20), session("v", drops=7))) == {
        "u": 0.0,
        "v": 0.0,
    }
    assert rates.feed(snap(4000, session("v", drops=1))) == {"v": 0.0}  # a new session, restarted


def test_poll_latency_is_never_negative() -> None:
    latency = PollLatency()
    assert math.isclose(latency.arrived(10.0, 10.012, 1_000), 12.0)
    # a snapshot sent early by the bridge's clock reads 0, never "-0"
    shown = f"{latency.arrived(10.0, 10.5, 1_600):.0f}"
    assert shown == "0"
    assert math.isclose(latency.arrived(10.0, 11.05, 2_000), 50.0)  # 12 + 1038 - 1000
    latency.connect()
    assert math.isclose(latency.arrived(20.0, 20.003, 9_000), 3.0)


def test_a_playback_of_unknown_length_shows_no_zero_total() -> None:
    known = admin_pb.PlaybackInfo(request_id="r", track="tts", position_ms=1500, duration_ms=4000)
    unknown = admin_pb.PlaybackInfo(request_id="r", track="tts", position_ms=2600)
    assert format_playback(known) == "r tts 1.5/4.0 s"
    assert format_playback(unknown) == "r tts 2.6/? s"


def test_cells_show_levels_and_no_audio_as_a_dash() -> None:
    row = cells(session("u", level_out_dbfs=-23.6, level_in_dbfs=0.0), 2.5)
    assert (row["dB in"], row["dB out"], row["drop/s"]) == ("0", "-24", "2.5")
    assert cells(session("u"), 0.0)["dB out"] == "-"
    assert list(row) == list(COLUMN_KEYS)


def test_every_column_sorts_by_its_figure() -> None:
    a = session("a", room="r2", drops=9, age_s=5, level_out_dbfs=-10.0)
    b = session("b", room="r1", drops=10, age_s=50)
    rates = {"a": 3.0, "b": 1.0}

    def order(column: str) -> list[str]:
        key = sort_key(column)
        return [s.user_id for s in sorted([a, b], key=lambda s: key(s, rates[s.user_id]))]

    assert order("drops") == ["a", "b"]  # 9 < 10 as numbers, not as text
    assert order("room") == ["b", "a"]
    assert order("drop/s") == ["b", "a"]
    assert order("dB out") == ["b", "a"]  # no audio sorts below any level
    assert order("age") == ["a", "b"]
    assert order("nonsense") == ["a", "b"]
    for column in COLUMN_KEYS:
        order(column)  # every column has a key
    seen = {"user"}
    column = "user"
    for _ in COLUMN_KEYS:
        column = next_column(column)
        seen.add(column)
    assert seen == set(COLUMN_KEYS) and column == "user"


def test_changes_between_snapshots() -> None:
    feed = EventFeed()
    a = snap(0, session("u", connected=True))
    b = snap(
        1000,
        session("u", connected=False, last_disconnect_reason="SERVER_SHUTDOWN",
                playbacks=[admin_pb.PlaybackInfo(request_id="r1", track="tts")]),
        session("v", room="room-1"),
        errors=2,
    )  # fmt: skip
    assert feed.feed(a) == ["connected: 1 session(s)"]
    assert feed.feed(b) == [
        "join: v in room-1",
        "disconnected: u (SERVER_SHUTDOWN)",
        "play: u r1 on tts",
        "errors: +2",
    ]


def test_overload_counters_are_lines_when_they_grow() -> None:
    feed = EventFeed()
    feed.feed(snap(0, session("u"), stalls=1, drops_in=3))
    assert feed.feed(snap(1000, session("u"), stalls=1, drops_in=3)) == []
    assert feed.feed(snap(2000, session("u"), stalls=2, drops_in=40)) == [
        "stalls: +1 (the bridge's loop stood still)",
        "late cloud audio dropped: +37 chunks",
    ]


def test_a_session_that_keeps_dropping_is_one_line_until_it_stops() -> None:
    feed = EventFeed()
    lines = feed.feed(snap(0, session("u", drops=0)))
    for second in range(1, 31):  # joined, no stream: the outbox overflows every second
        lines += feed.feed(snap(second * 1000, session("u", drops=10 * second)))
    lines += feed.feed(snap(31_000, session("u", drops=310, stream_open=True)))
    lines += feed.feed(snap(32_000, session("u", drops=315, stream_open=True)))
    for second in range(33, 33 + DROPS_QUIET_MS // 1000 + 1):  # the reader keeps up again
        lines += feed.feed(snap(second * 1000, session("u", drops=315, stream_open=True)))
    assert lines == [
        "connected: 1 session(s)",
        "drops: u is dropping room audio (no stream reads it)",
        "stream opened: u",
        "drops: u still dropping (slow reader)",
        "drops: u stopped dropping (315 frames over 31 s)",
    ]


def test_after_a_reconnect_the_feed_starts_afresh() -> None:
    feed = EventFeed()
    feed.feed(snap(0, session("u")))
    feed.disconnected()
    assert feed.feed(snap(9000, session("v"))) == ["connected: 1 session(s)"]


def test_drops_counted_as_a_stream_opens_are_blamed_on_the_wait_before_it() -> None:
    feed = EventFeed()
    feed.feed(snap(0, session("u", drops=0)))
    lines = feed.feed(snap(1000, session("u", drops=5, stream_open=True)))
    for second in range(2, 2 + DROPS_QUIET_MS // 1000 + 1):
        lines += feed.feed(snap(second * 1000, session("u", drops=5, stream_open=True)))
    assert lines == [
        "stream opened: u",
        "drops: u is dropping room audio (no stream reads it)",
        "drops: u stopped dropping (5 frames at once)",
    ]


def test_the_sessions_meter_shows_the_limit_joins_and_refusals() -> None:
    assert sessions_meter(admin_pb.Totals(sessions=3)) == "sessions 3"  # an older bridge
    assert sessions_meter(admin_pb.Totals(sessions=3, max_sessions=20)) == "sessions 3/20"
    busy = admin_pb.Totals(sessions=3, max_sessions=20, joins_in_flight=2, joins_refused=5)
    assert sessions_meter(busy) == "sessions 3/20 +2 joining, 5 refused"


def test_the_cpu_meter_shows_the_share_against_max_cpu() -> None:
    process = admin_pb.ProcessStats(cpu_percent=34.4)
    assert cpu_meter(process, admin_pb.Totals()) == "CPU 34 %"  # no bound, or an older bridge
    totals = admin_pb.Totals(cpu_busy_percent=61.2, max_cpu=80)
    assert cpu_meter(process, totals) == "CPU 34 % (61/80)"
    assert not cpu_refusing(totals) and not cpu_refusing(admin_pb.Totals(cpu_busy_percent=90))
    assert cpu_refusing(admin_pb.Totals(cpu_busy_percent=80, max_cpu=80))

"""What the dashboard shows of a session, as plain values: columns, cells, sort keys, rates.

Pure logic, no widgets, so every rule the screen follows (a level of no audio, a playback of
unknown length, a rate over a window) is unit-tested without a terminal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb

RATE_WINDOW_MS = 1000  # rates over at least this much of the bridge's own clock


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    help: str


COLUMNS = (
    Column("user", "user", "the cloud's user id"),
    Column("room", "room", "the LiveKit room"),
    Column("conn", "conn", "connected to the room"),
    Column("stream", "stream", "a StreamAudio call is bound"),
    Column("in/s", "in/s", "client->room frames per second"),
    Column("out/s", "out/s", "room->client frames per second"),
    Column("dB in", "dB in", "level sent to the room (dBFS, last second)"),
    Column("dB out", "dB out", "level of the room audio for the client (dBFS, last second)"),
    Column("drops", "drops", "room audio frames dropped (no reader, or a slow one)"),
    Column("drop/s", "drop/s", "drops per second"),
    Column("plays", "plays", "playbacks in progress"),
    Column("age", "age", "time since the join"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)


def format_level(level: float | None) -> str:
    """A level in dBFS; "-" when no audio passed in the last window."""
    return "-" if level is None else f"{level:.0f}"


def level_in(session: admin_pb.SessionInfo) -> float | None:
    return session.level_in_dbfs if session.HasField("level_in_dbfs") else None


def level_out(session: admin_pb.SessionInfo) -> float | None:
    return session.level_out_dbfs if session.HasField("level_out_dbfs") else None


def format_playback(playback: admin_pb.PlaybackInfo) -> str:
    """Position of total; "?" for a total the bridge does not know (a stream with no length)."""
    where = f"{playback.request_id} {playback.track} {playback.position_ms / 1000:.1f}"
    if playback.duration_ms > 0:
        return f"{where}/{playback.duration_ms / 1000:.1f} s"
    return f"{where}/? s"


def cells(session: admin_pb.SessionInfo, drops_per_s: float) -> dict[str, str]:
    return {
        "user": session.user_id,
        "room": session.room,
        "conn": "yes" if session.connected else "NO",
        "stream": "open" if session.stream_open else "-",
        "in/s": f"{session.frames_in_per_s:.1f}",
        "out/s": f"{session.frames_out_per_s:.1f}",
        "dB in": format_level(level_in(session)),
        "dB out": format_level(level_out(session)),
        "drops": str(session.drops),
        "drop/s": f"{drops_per_s:.1f}",
        "plays": str(len(session.playbacks)),
        "age": f"{session.age_s:.0f}s",
    }


SortKey = Callable[[admin_pb.SessionInfo, float], Any]


def _level_key(level: float | None) -> float:
    return -math.inf if level is None else level


_SORT_KEYS: dict[str, SortKey] = {
    "user": lambda s, _: s.user_id,
    "room": lambda s, _: (s.room, s.user_id),
    "conn": lambda s, _: (s.connected, s.user_id),
    "stream": lambda s, _: (s.stream_open, s.user_id),
    "in/s": lambda s, _: s.frames_in_per_s,
    "out/s": lambda s, _: s.frames_out_per_s,
    "dB in": lambda s, _: _level_key(level_in(s)),
    "dB out": lambda s, _: _level_key(level_out(s)),
    "drops": lambda s, _: s.drops,
    "drop/s": lambda _, rate: rate,
    "plays": lambda s, _: len(s.playbacks),
    "age": lambda s, _: s.age_s,
}


def sort_key(column: str) -> SortKey:
    """The value a column sorts by (the raw figure, not its text); unknown columns sort by user."""
    return _SORT_KEYS.get(column, _SORT_KEYS["user"])


def next_column(column: str) -> str:
    index = COLUMN_KEYS.index(column) if column in COLUMN_KEYS else -1
    return COLUMN_KEYS[(index + 1) % len(COLUMN_KEYS)]


def matches(session: admin_pb.SessionInfo, needle: str) -> bool:
    needle = needle.lower()
    return not needle or needle in session.user_id.lower() or needle in session.room.lower()


class DropRates:
    """Drops per second per session, from the counters' change over windows of the bridge's clock.

    Windows of at least RATE_WINDOW_MS, so a fast refresh does not turn one burst into a spike.
    """

    def __init__(self) -> None:
        self._base: dict[str, tuple[int, int]] = {}  # user -> (timestamp_ms, drops)
        self._rates: dict[str, float] = {}

    def feed(self, snapshot: admin_pb.StatsSnapshot) -> dict[str, float]:
        now = snapshot.timestamp_ms
        live = set()
        for session in snapshot.sessions:
            user = session.user_id
            live.add(user)
            base = self._base.get(user)
            if base is None or session.drops < base[1]:
                self._base[user] = (now, session.drops)
                self._rates[user] = 0.0
            elif now - base[0] >= RATE_WINDOW_MS:
                self._rates[user] = (session.drops - base[1]) * 1000 / (now - base[0])
                self._base[user] = (now, session.drops)
        for user in [u for u in self._base if u not in live]:
            del self._base[user]
            self._rates.pop(user, None)
        return dict(self._rates)


class PollLatency:
    """How late snapshots arrive, never negative.

    The first snapshot of a connection gives the round trip (call to first answer); each later
    one adds how much more local time passed than bridge time since then. A stream of snapshots
    has no request per answer to time, and the bridge's clock is not ours, so only differences
    of each clock are used.
    """

    def __init__(self) -> None:
        self._first: tuple[float, int, float] | None = None  # (arrival s, bridge ms, rtt ms)

    def connect(self) -> None:
        self._first = None

    def arrived(self, called_at: float, arrival: float, timestamp_ms: int) -> float:
        if self._first is None:
            self._first = (arrival, timestamp_ms, (arrival - called_at) * 1000)
        first_arrival, first_ts, rtt_ms = self._first
        extra_ms = (arrival - first_arrival) * 1000 - (timestamp_ms - first_ts)
        return max(0.0, rtt_ms + extra_ms)  # max(-0.0, 0.0) would keep the sign


def sessions_meter(totals: admin_pb.Totals) -> str:
    """Sessions against the bridge's --max-sessions, with joins under way and joins refused
    (a bridge older than admission sends no limit: the count alone)."""
    text = f"sessions {totals.sessions}"
    if totals.max_sessions:
        text += f"/{totals.max_sessions}"
    if totals.joins_in_flight:
        text += f" +{totals.joins_in_flight} joining"
    if totals.joins_refused:
        text += f", {totals.joins_refused} refused"
    return text


def cpu_meter(process: admin_pb.ProcessStats, totals: admin_pb.Totals) -> str:
    """CPU % of one core, and with --max-cpu "(used/bound)": the last 5 s's use of what the
    process may use against the bound past which new users are refused (a meter is narrow; a
    bridge without the bound, or older than it, sends 0: the core figure alone)."""
    text = f"CPU {process.cpu_percent:.0f} %"
    if totals.max_cpu:
        text += f" ({totals.cpu_busy_percent:.0f}/{totals.max_cpu:g})"
    return text


def cpu_refusing(totals: admin_pb.Totals) -> bool:
    """The bridge (a front: its busiest worker) refuses new users now for --max-cpu."""
    return bool(totals.max_cpu) and totals.cpu_busy_percent >= totals.max_cpu

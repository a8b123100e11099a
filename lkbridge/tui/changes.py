"""What changed between admin snapshots, as event-log lines. Pure logic.

The log says what changed, once: a session that keeps dropping audio (joined with no stream to
read it, or a slow reader) is one line when it starts, one when its reason changes and one with
the total when it stops, never a line per snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb

DROPS_QUIET_MS = 3000  # this long without a new drop ends an episode


@dataclass
class _Dropping:
    started_ms: int
    drops_at_start: int
    last_drop_ms: int
    reason: str


def _drop_reason(a: admin_pb.SessionInfo, b: admin_pb.SessionInfo) -> str:
    """A slow reader only when a stream was open all along: drops counted in the snapshot that
    shows a stream opening happened before it (the outbox was full with nobody reading)."""
    return "slow reader" if a.stream_open and b.stream_open else "no stream reads it"


class EventFeed:
    """Feed it every snapshot; it returns the lines to log."""

    def __init__(self) -> None:
        self._last: admin_pb.StatsSnapshot | None = None
        self._dropping: dict[str, _Dropping] = {}

    def feed(self, snapshot: admin_pb.StatsSnapshot) -> list[str]:
        old, self._last = self._last, snapshot
        if old is None:
            self._dropping.clear()
            return [f"connected: {len(snapshot.sessions)} session(s)"]
        before = {s.user_id: s for s in old.sessions}
        after = {s.user_id: s for s in snapshot.sessions}
        lines = []
        for user in sorted(after.keys() - before.keys()):
            lines.append(f"join: {user} in {after[user].room}")
        for user in sorted(before.keys() - after.keys()):
            lines.append(f"leave: {user}")
            self._dropping.pop(user, None)
        for user in sorted(after.keys() & before.keys()):
            lines += self._session_changes(before[user], after[user], snapshot.timestamp_ms)
        now, then = snapshot.totals, old.totals
        if now.errors > then.errors:
            lines.append(f"errors: +{now.errors - then.errors}")
        if now.stalls > then.stalls:  # the bridge's overload counters (docs/operations.md)
            lines.append(f"stalls: +{now.stalls - then.stalls} (the bridge's loop stood still)")
        if now.drops_in > then.drops_in:
            lines.append(f"late cloud audio dropped: +{now.drops_in - then.drops_in} chunks")
        return lines

    def disconnected(self) -> None:
        """The next snapshot starts afresh: what happened meanwhile is unknown."""
        self._last = None

    def _session_changes(
        self, a: admin_pb.SessionInfo, b: admin_pb.SessionInfo, now_ms: int
    ) -> list[str]:
        user, lines = b.user_id, []
        if a.connected and not b.connected:
            lines.append(f"disconnected: {user} ({b.last_disconnect_reason or b.state})")
        elif not a.connected and b.connected:
            lines.append(f"reconnected: {user}")
        if not a.stream_open and b.stream_open:
            lines.append(f"stream opened: {user}")
        elif a.stream_open and not b.stream_open:
            lines.append(f"stream closed: {user}")
        old_plays = {p.request_id for p in a.playbacks}
        new_plays = {p.request_id: p for p in b.playbacks}
        for rid in sorted(new_plays.keys() - old_plays):
            lines.append(f"play: {user} {rid} on {new_plays[rid].track}")
        for rid in sorted(old_plays - new_plays.keys()):
            lines.append(f"play ended: {user} {rid}")
        return lines + self._drop_changes(a, b, now_ms)

    def _drop_changes(
        self, a: admin_pb.SessionInfo, b: admin_pb.SessionInfo, now_ms: int
    ) -> list[str]:
        user, episode = b.user_id, self._dropping.get(b.user_id)
        if b.drops > a.drops:
            reason = _drop_reason(a, b)
            if episode is None:
                self._dropping[user] = _Dropping(now_ms, a.drops, now_ms, reason)
                return [f"drops: {user} is dropping room audio ({reason})"]
            episode.last_drop_ms = now_ms
            if reason != episode.reason:
                episode.reason = reason
                return [f"drops: {user} still dropping ({reason})"]
            return []
        if episode is not None and now_ms - episode.last_drop_ms >= DROPS_QUIET_MS:
            del self._dropping[user]
            seconds = (episode.last_drop_ms - episode.started_ms) / 1000
            frames = b.drops - episode.drops_at_start
            span = f"over {seconds:.0f} s" if seconds >= 1 else "at once"
            return [f"drops: {user} stopped dropping ({frames} frames {span})"]
        return []

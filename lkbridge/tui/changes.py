"""What changed between two admin snapshots, as event-log lines. Pure logic."""

from __future__ import annotations

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb


def changes(old: admin_pb.StatsSnapshot | None, new: admin_pb.StatsSnapshot) -> list[str]:
    if old is None:
        return [f"connected: {len(new.sessions)} session(s)"]
    before = {s.user_id: s for s in old.sessions}
    after = {s.user_id: s for s in new.sessions}
    lines = []
    for user in sorted(after.keys() - before.keys()):
        lines.append(f"join: {user} in {after[user].room}")
    for user in sorted(before.keys() - after.keys()):
        lines.append(f"leave: {user}")
    for user in sorted(after.keys() & before.keys()):
        a, b = before[user], after[user]
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
        if b.drops > a.drops:
            lines.append(f"drops: {user} +{b.drops - a.drops} (slow reader)")
    if new.totals.errors > old.totals.errors:
        lines.append(f"errors: +{new.totals.errors - old.totals.errors}")
    return lines

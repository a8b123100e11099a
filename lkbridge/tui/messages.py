"""What the background watcher tells the UI: every I/O result arrives as one of these."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb


@dataclass
class StatsArrived(Message):
    snapshot: admin_pb.StatsSnapshot
    latency_ms: float


@dataclass
class ConnectionLost(Message):
    reason: str

"""The end of a distributed run: the master collects every worker's final report before it
sums up, and each worker prints what it counted itself.

A locust worker sends its stats every 3 s and a last report when it is told to quit (after its
users stopped, so their LeaveRoom is in it); its `quit` message follows that report on the same
ordered channel. Locust's own MasterRunner.quit() sends `quit` to the workers, sleeps 0.5 s and
stops listening: on a busy machine a worker's stop takes longer, and the master's counts then
miss the workers' last seconds (the LeaveRoom of every user, the last frames, a late JoinRoom).
So the master sends `quit` itself and waits, bounded, for each worker to answer, while its
listener still runs; locust's quit then finds no worker left to wait for.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any

import gevent
from locust.rpc import Message
from locust.runners import STATE_MISSING, MasterRunner

FINAL_REPORT_GRACE_S = 5.0  # after the users' --stop-timeout: the report, the quit, the network
POLL_S = 0.1  # well under the 0.5 s locust's quit waits before it stops listening
LACKING = "the summary lacks its last seconds"

logger = logging.getLogger(__name__)


def collect_final_reports(runner: MasterRunner, timeout_s: float) -> list[int]:
    """Tell every worker to quit and wait until each one's `quit` has arrived (locust removes
    the worker from `runner.clients` then), at most `timeout_s`. A worker already missing its
    heartbeats is not waited for. Returns the indexes of the workers whose final report did not
    come; each gets a log line."""
    pending: dict[str, int] = {}
    missing: list[int] = []
    for client in list(runner.clients.all):
        index = runner.get_worker_index(client.id)
        if client.state == STATE_MISSING:
            missing.append(index)
            continue
        pending[client.id] = index
        runner.server.send_to_client(Message("quit", None, client.id))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(cid in runner.clients for cid in pending):
        gevent.sleep(POLL_S)
    silent = [index for cid, index in pending.items() if cid in runner.clients]
    for index in missing:
        logger.warning("worker %d sent no final report: it stopped sending heartbeats; %s",
                       index, LACKING)  # fmt: skip
    for index in silent:
        logger.warning("worker %d sent no final report within %.0f s; %s", index, timeout_s,
                       LACKING)  # fmt: skip
    return sorted(missing + silent)


class WorkerTally:
    """What one worker fired, by request name, counted apart from locust's stats (which a
    worker resets at each report), so a run's total can be checked against the master's."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def count(self, name: str, **_: Any) -> None:
        self.counts[name] += 1

    def line(self, index: int) -> str:
        return f"worker {index} counted: {json.dumps(dict(sorted(self.counts.items())))}"

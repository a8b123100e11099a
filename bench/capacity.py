"""Capacity beside the Go bridge (bench/sessions.py --go-bridge): whether a run counts, the
table per N and bridge, and the knee.

Pure logic over bench/report.py's Results, so tests/unit checks it without a bridge:
- a run is DISCARDED when its load generator overran (`overrun`): the figures of such a run
  are the generator's delays, not the bridge's, and a knee read from them would be the
  generator's knee;
- the knee of a bridge is the first N whose kept runs' device -> cloud p99 or drops pass the
  thresholds (`knee`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import Result
from lkbridge.percentiles import percentile

# A send is late when it leaves after its schedule (start + seq x chunk). The generator overran
# when its p99 lateness passes a fifth of a chunk (20 ms at 100 ms chunks: as much as the bridge's
# whole device -> cloud p99 at N=10), or when more than LATE_CHUNK_SHARE of its sends are a whole
# chunk or more late (it fell behind by a packet: the bridge then sees two at once).
OVERRUN_P99_SHARE = 0.2
LATE_CHUNK_SHARE = 0.001

# The knee: device -> cloud p99 past one chunk (100 ms: a packet arrives after the next one was
# sent, the audio a cloud hears comes in bunches), or more than 0.5 % of the device's packets
# never reach the cloud.
KNEE_P99_MS = 100.0
KNEE_DROPS_PERCENT = 0.5


def overrun(late_ms: Sequence[float], chunk_ms: int, who: str) -> str:
    """Why a generator's sends overran (one clause), or "" when they kept time."""
    if not late_ms:
        return ""
    p99 = percentile(list(late_ms), 99)
    if p99 > OVERRUN_P99_SHARE * chunk_ms:
        return f"{who} late p99 {p99:.0f} ms > {OVERRUN_P99_SHARE * chunk_ms:.0f}"
    whole = sum(1 for v in late_ms if v >= chunk_ms)
    if whole > LATE_CHUNK_SHARE * len(late_ms):
        return f"{who} {whole} of {len(late_ms)} sends a chunk late"
    return ""


def drops_percent(r: Result) -> float:
    """Device packets the cloud never received, % of those sent."""
    if r.frames_expected <= 0:
        return math.nan
    return 100 * max(0, r.frames_expected - r.frames_to_client) / r.frames_expected


def bridge_name(r: Result) -> str:
    return r.bridge_src or "lkbridge"


@dataclass(frozen=True)
class Knee:
    bridge: str
    n: int | None  # the first N past a threshold; None: not reached
    why: str  # what passed, or up to which N it held, or which N had no kept run


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def knee(results: Sequence[Result], bridge: str) -> Knee:
    """The bridge's knee over its kept runs: at each N (ascending) the median of the kept
    runs' p99 and drops; an N without a kept run stops the reading (what lies past it is
    unknown, never assumed fine)."""
    mine = [r for r in results if bridge_name(r) == bridge]
    checked: int | None = None
    for n in sorted({r.sessions for r in mine}):
        kept = [r for r in mine if r.sessions == n and not r.overrun]
        if not kept:
            return Knee(bridge, None, f"N={n}: every run DISCARDED (generator overran)")
        p99 = _median([r.e2e_device_to_client_p99_ms for r in kept])
        drops = _median([drops_percent(r) for r in kept])
        passed = []
        if p99 > KNEE_P99_MS:
            passed.append(f"device -> cloud p99 {p99:.0f} ms > {KNEE_P99_MS:.0f}")
        if drops > KNEE_DROPS_PERCENT:
            passed.append(f"drops {drops:.2f} % > {KNEE_DROPS_PERCENT}")
        if passed:
            return Knee(bridge, n, ", ".join(passed))
        checked = n
    if checked is None:
        return Knee(bridge, None, "no runs")
    return Knee(bridge, None, f"not reached up to N={checked}")


def _num(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


HEADER = (
    "| N | bridge | run | CPU % / session | RSS MB / session | device -> cloud p50 / p99 ms "
    "| cloud -> room queue p50 / p99 ms | cloud -> device p50 ms | drops % "
    "| after leave RSS MB, threads | bridge / SFU / generator CPU % | generator late p99 ms "
    "(Go devices / clients) | status |"
)


def row(r: Result, attempt: int) -> str:
    status = f"DISCARDED: {r.overrun}" if r.overrun else "kept"
    cells = [
        str(r.sessions),
        bridge_name(r),
        f"#{attempt}",
        _num(r.cpu_per_session, 2),
        _num(r.rss_per_session_mb, 2),
        f"{_num(r.e2e_device_to_client_p50_ms)} / {_num(r.e2e_device_to_client_p99_ms)}",
        f"{_num(r.bridge_queue_p50_ms)} / {_num(r.bridge_queue_p99_ms)}",
        _num(r.client_to_device_p50_ms),
        _num(drops_percent(r), 2),
        f"{_num(r.after_leave_rss_mb)}, {r.after_leave_threads}",
        f"{_num(r.cpu_percent, 0)} / {_num(r.sfu_cpu_percent, 0)} / {_num(r.load_cpu_percent, 0)}",
        f"{_num(r.go_devices_late_p99_ms)} / {_num(r.clients_late_p99_ms)}",
        status,
    ]
    return "| " + " | ".join(cells) + " |"


def capacity_table(results: Sequence[Result]) -> str:
    """A markdown table, one row per run grouped by N then bridge (runs in the order they ran),
    and the knee of each bridge under it: ready to paste into docs/benchmarks.md."""
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    order = sorted(
        range(len(results)), key=lambda i: (results[i].sessions, bridge_name(results[i]), i)
    )
    seen: dict[tuple[int, str], int] = {}
    for i in order:
        r = results[i]
        key = (r.sessions, bridge_name(r))
        seen[key] = seen.get(key, 0) + 1
        lines.append(row(r, seen[key]))
    lines.append("")
    bridges = list(dict.fromkeys(bridge_name(r) for r in results))
    for b in bridges:
        k = knee(results, b)
        where = f"N={k.n}" if k.n is not None else "none"
        lines.append(f"knee of {b}: {where} ({k.why})")
    lines.append(
        f"knee: the first N whose kept runs' median device -> cloud p99 > {KNEE_P99_MS:.0f} ms "
        f"or drops > {KNEE_DROPS_PERCENT} %; DISCARDED: the load generator's sends were late "
        f"(p99 > {OVERRUN_P99_SHARE:.0%} of a chunk, or > {LATE_CHUNK_SHARE:.1%} a whole chunk "
        "late)"
    )
    return "\n".join(lines)

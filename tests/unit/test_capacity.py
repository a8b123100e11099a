"""bench/capacity.py: when a run is DISCARDED (its load generator overran), the table per N and
bridge, and where each bridge's knee is read."""

from __future__ import annotations

import dataclasses

from bench.capacity import (
    HEADER,
    KNEE_DROPS_PERCENT,
    KNEE_P99_MS,
    capacity_table,
    drops_percent,
    knee,
    overrun,
)
from bench.report import Result

CHUNK_MS = 100


def result(n: int, bridge: str = "", p99: float = 20.0, received: int | None = None,
           why: str = "") -> Result:  # fmt: skip
    expected = n * 300
    return Result(
        sessions=n, content="speech", bridge_src=bridge, packet_split={}, go_packet_split={},
        publish_bitrate=0, duration_s=30, baseline_rss_mb=70, rss_mb=70 + 3 * n,
        rss_per_session_mb=3.0, baseline_tasks=19, tasks=19 + 3 * n, tasks_per_session=3,
        threads=40, cpu_percent=5.0 * n, cpu_per_session=5.0, bridge_in_p50_ms=0.1,
        bridge_in_p99_ms=0.8, bridge_in_ack_p50_ms=1, bridge_in_ack_p99_ms=5,
        bridge_out_p50_ms=0.5, bridge_out_p99_ms=6, e2e_device_to_client_p50_ms=5,
        e2e_device_to_client_p99_ms=p99, client_to_device_p50_ms=65,
        client_to_device_p95_ms=70, frames_to_client=expected if received is None else received,
        frames_expected=expected, after_leave_rss_mb=99, after_leave_tasks=19,
        after_leave_fds=33, baseline_fds=33, heard_correlation=0.96, heard_worst_turn=0.9,
        heard_loud_s=9.5, sent_loud_s=9.6, speaker_kbps=70, encoder_thread_percent=1.2,
        overrun=why,
    )  # fmt: skip


# -- overrun: the load generator's late sends -------------------------------------------------


def test_a_generator_on_time_did_not_overrun() -> None:
    assert overrun([0.1, 0.5, 2.0, 5.0] * 100, CHUNK_MS, "Go devices") == ""
    assert overrun([], CHUNK_MS, "clients") == ""  # nothing sent (N=1: no Go devices)


def test_a_p99_past_a_fifth_of_a_chunk_is_an_overrun() -> None:
    late = [1.0] * 97 + [25.0] * 3  # p99 25 ms > 20
    assert overrun(late, CHUNK_MS, "Go devices") == "Go devices late p99 25 ms > 20"
    assert overrun([1.0] * 199 + [25.0], CHUNK_MS, "Go devices") == ""  # 1 in 200: p99 holds
    assert overrun(late, 200, "Go devices") == ""  # a fifth of 200 ms chunks is 40


def test_sends_a_whole_chunk_late_are_an_overrun_even_when_the_p99_holds() -> None:
    late = [1.0] * 2000
    late[:3] = [150.0, 120.0, 100.0]  # 3 of 2000 = 0.15 % > 0.1 %, p99 still 1 ms
    assert overrun(late, CHUNK_MS, "clients") == "clients 3 of 2000 sends a chunk late"
    late[2] = 99.0  # 2 of 2000 = 0.1 %: allowed
    assert overrun(late, CHUNK_MS, "clients") == ""


# -- drops and knee ---------------------------------------------------------------------------


def test_drops_are_the_share_of_device_packets_never_received() -> None:
    assert drops_percent(result(10)) == 0.0
    assert drops_percent(result(10, received=2970)) == 1.0
    assert drops_percent(result(10, received=3005)) == 0.0  # duplicates are no negative drops


def test_the_knee_is_the_first_n_past_the_p99_threshold() -> None:
    runs = [result(10), result(15), result(20, p99=KNEE_P99_MS + 40), result(25, p99=400)]
    assert knee(runs, "lkbridge").n == 20
    assert "device -> cloud p99 140 ms > 100" in knee(runs, "lkbridge").why


def test_the_knee_is_the_first_n_past_the_drops_threshold() -> None:
    dropped = int(15 * 300 * (1 - 2 * KNEE_DROPS_PERCENT / 100))  # twice the threshold
    runs = [result(10, "go"), result(15, "go", received=dropped)]
    found = knee(runs, "go")
    assert (found.n, found.why) == (15, "drops 1.00 % > 0.5")


def test_the_knee_reads_the_median_of_the_kept_runs_only() -> None:
    runs = [
        result(10, "go"),
        result(20, "go", p99=500, why="Go devices late p99 80 ms > 20"),  # discarded
        result(20, "go", p99=30),
        result(25, "go", p99=30),
        result(25, "go", p99=150),
        result(25, "go", p99=160),  # median 150 > 100
    ]
    assert knee(runs, "go").n == 25


def test_an_n_with_every_run_discarded_stops_the_reading() -> None:
    runs = [
        result(10),
        result(20, p99=500, why="clients late p99 40 ms > 20"),
        result(25, p99=30),  # never read: what lies past a discarded N is unknown
    ]
    found = knee(runs, "lkbridge")
    assert found.n is None
    assert found.why == "N=20: every run DISCARDED (generator overran)"


def test_no_knee_up_to_the_last_n() -> None:
    found = knee([result(10), result(15)], "lkbridge")
    assert (found.n, found.why) == (None, "not reached up to N=15")


# -- the table --------------------------------------------------------------------------------


def test_the_table_has_a_row_per_run_grouped_by_n_then_bridge_and_a_knee_per_bridge() -> None:
    runs = [  # as they ran: N=10 ours, go, ours, go; then N=20
        result(10), result(10, "go"), result(10, p99=22), result(10, "go", why="clients x"),
        result(20, p99=150), result(20, "go"), result(20, p99=170), result(20, "go"),
    ]  # fmt: skip
    lines = capacity_table(runs).splitlines()
    assert lines[0] == HEADER
    columns = HEADER.count("|") - 1
    assert lines[1] == "|" + "---|" * columns
    rows = lines[2:10]
    assert all(r.count("|") - 1 == columns for r in rows)
    firsts = [tuple(c.strip() for c in r.split("|")[1:4]) for r in rows]
    assert firsts == [
        ("10", "go", "#1"), ("10", "go", "#2"), ("10", "lkbridge", "#1"),
        ("10", "lkbridge", "#2"), ("20", "go", "#1"), ("20", "go", "#2"),
        ("20", "lkbridge", "#1"), ("20", "lkbridge", "#2"),
    ]  # fmt: skip
    assert rows[1].endswith("| DISCARDED: clients x |")
    assert rows[0].endswith("| kept |")
    knees = [line for line in lines if line.startswith("knee of")]
    assert knees == [
        "knee of lkbridge: N=20 (device -> cloud p99 160 ms > 100)",
        "knee of go: none (not reached up to N=20)",
    ]


def test_a_figure_the_go_bridge_does_not_report_shows_as_a_dash() -> None:
    go = dataclasses.replace(result(10, "go"), bridge_queue_p50_ms=float("nan"))
    cells = [c.strip() for c in capacity_table([go]).splitlines()[2].split("|")]
    assert cells[HEADER.split("|").index(" cloud -> room queue p50 / p99 ms ")].startswith("- /")

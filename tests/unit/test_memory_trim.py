"""When the bridge gives freed heap back: glibc's free heap or RSS grown since the last trim.

Pure logic, with scripted readings and a counting trim in place of /proc and glibc.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from lkbridge.server.session import memory

MB = 2**20
Reading = tuple[int | None, int | None]  # (RSS, glibc's free heap)


def trims_over(script: list[Reading], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the trimmer over `script` (a reading at start, then one per period and one after
    each trim) and count its trims."""
    monkeypatch.setattr(memory, "_libc", object())  # glibc or not, the decision is tested
    readings: Iterator[Reading] = iter(script)
    current: list[Reading] = []
    trims = 0

    def reader(index: int) -> Callable[[], int | None]:
        def read() -> int | None:
            if index == 0:  # RSS is read first: it advances the script
                step = next(readings, None)
                if step is None:
                    raise asyncio.CancelledError  # the script is over: end the loop
                current[:] = [step]
            return current[0][index]

        return read

    def trim() -> bool:
        nonlocal trims
        trims += 1
        return True

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(
            memory.trim_after_bursts(0.0, read_rss=reader(0), read_free=reader(1), trim=trim)
        )
    return trims


def test_churn_that_makes_free_pages_resident_again_is_trimmed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RSS creeps while glibc's free figure stays put (pages a trim returned are reused and
    freed again): the trim comes once RSS grew by the threshold."""
    free = 30 * MB
    script: list[Reading] = [
        (100 * MB, free),  # at start: what the last trim "left"
        (103 * MB, free),  # +3
        (107 * MB, free),  # +7
        (109 * MB, free),  # +9 over 100: trim ...
        (101 * MB, free),  # ... which left 101
        (108 * MB, free),  # +7 over 101
        (99 * MB, free),  # went back by itself: the new reference
        (106 * MB, free),  # +7 over 99
        (108 * MB, free),  # +9 over 99: trim ...
        (107 * MB, free),  # ... which found little to return: 107 is the reference now
        (114 * MB, free),  # +7 over 107
    ]
    assert trims_over(script, monkeypatch) == 2


def test_a_burst_freed_after_a_trim_is_trimmed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Freeing does not raise RSS: the free figure's growth brings the trim."""
    script: list[Reading] = [
        (100 * MB, 5 * MB),
        (300 * MB, 5 * MB),  # a burst: RSS +200 -> trim ...
        (290 * MB, 4 * MB),  # ... while its memory is still in use
        (290 * MB, 150 * MB),  # the burst ends: 146 MB freed, RSS unchanged -> trim ...
        (140 * MB, 149 * MB),  # ... RSS back (the free figure keeps the returned pages)
        (141 * MB, 150 * MB),
    ]
    assert trims_over(script, monkeypatch) == 2


def test_no_free_figure_trims_every_period(monkeypatch: pytest.MonkeyPatch) -> None:
    script: list[Reading] = [(100 * MB, None)] * 7  # a start, then 3 x (a period, after a trim)
    assert trims_over(script, monkeypatch) == 3


def test_resident_bytes_reads_this_process() -> None:
    rss = memory.resident_bytes()
    assert rss is not None and 10 * MB < rss < 4096 * MB

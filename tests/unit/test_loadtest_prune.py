"""`lkbridge loadtest`'s pruning of old default runs: never a run that is still running."""

from __future__ import annotations

from pathlib import Path

import pytest

from lkbridge.cli.loadtest import _hold, _prune


def test_a_run_still_running_is_kept_however_old(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A soak started first, then more short runs than --keep-runs: the soak's directory is the
    oldest, and it is still being written. Before, the last short run's prune removed it."""
    runs = tmp_path / "loadtest"
    dirs = [runs / f"20260101-0000{i:02d}-abcdef" for i in range(6)]
    for path in dirs:
        path.mkdir(parents=True)
    soak, current = dirs[0], dirs[-1]
    held = _hold(soak)  # the soak's process holds it (a lock per open file, as another process)
    try:
        _prune(runs, 2, current)
    finally:
        held.close()
    left = sorted(p.name for p in runs.iterdir())
    assert left == sorted([soak.name, dirs[-2].name, current.name]), left
    assert "removed 3 older runs" in capsys.readouterr().err
    _prune(runs, 2, current)  # the soak has ended: now it goes like any old run
    assert sorted(p.name for p in runs.iterdir()) == sorted([dirs[-2].name, current.name])

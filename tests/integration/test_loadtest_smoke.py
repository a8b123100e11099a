"""The locust scenario, short: a few users for about 30 s against a stack the runner starts."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loadtest_smoke(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "loadtests" / "run.py"), "--shape", "soak", "--users", "3",
         "--ramp-s", "3", "--plateau-s", "25", "--out", str(tmp_path),
         "--livekit-port", "7960", "--bridge-port", "9290"],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "gate: PASS failure ratio" in output and "gate: FAIL" not in output
    assert "gate: SKIP growth gates" in output  # 25 s is no plateau to judge growth on
    with open(tmp_path / "locust_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    audio = rows["device->client"]
    assert int(audio["Request Count"]) > 3 * 10 * 15, "room audio reached every user"
    assert int(audio["Failure Count"]) == 0
    assert int(rows["JoinRoom"]["Request Count"]) == 3
    with open(tmp_path / "bridge-samples.csv") as handle:
        sampled = list(csv.DictReader(handle))
    assert max(int(row["sessions"]) for row in sampled) == 3
    assert (tmp_path / "report.html").stat().st_size > 1000

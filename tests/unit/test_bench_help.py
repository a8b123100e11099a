"""Every benchmark answers --help with its usage, never a traceback: a bare % in an option's
help once made `python -m bench.field --help` raise ValueError from argparse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_benchmark_answers_help(name: str) -> None:
    done = subprocess.run([sys.executable, "-m", f"bench.{name}", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    text = done.stdout + done.stderr
    assert "Traceback" not in text, text[-2000:]
    if done.returncode == 0:
        assert "usage" in text.lower() or not text.strip(), text[-500:]
    else:
        assert done.returncode == 2 and "usage" in text.lower(), text[-500:]

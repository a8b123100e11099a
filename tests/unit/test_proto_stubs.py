"""The committed stubs must be what scripts/gen_proto.py makes from proto/ today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for fresh in gen.generate(tmp_path):
        committed = ROOT / "lkbridge" / "_proto" / fresh.name
        assert committed.read_text() == fresh.read_text(), (
            f"{committed} is stale: run `.venv/bin/python scripts/gen_proto.py`"
        )

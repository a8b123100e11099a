"""The screenshot driver refuses to save a screen that shows no live bridge."""

from __future__ import annotations

from pathlib import Path

import pytest

from lkbridge.devstack.ports import free_port
from lkbridge.tui.screenshot import main


def test_no_bridge_no_screenshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "screen.svg"
    target = f"127.0.0.1:{free_port()}"
    assert main(["--bridge", target, "--out", str(out), "--timeout", "1.5"]) == 1
    assert not out.exists()
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: the dashboard never showed 1 live session(s) with a stream within 1.5 s "
        f"(no answer from {target})"
    )


def test_a_bad_size_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bridge", "x:1", "--out", "o.svg", "--size", "wide"]) == 2
    assert capsys.readouterr().err == "error: --size wants COLUMNSxROWS, not 'wide'\n"

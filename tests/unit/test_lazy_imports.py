"""What `lkbridge serve` does not load before its first session (bench/idle_rss.py measures it).

PyAV, aiohttp, livekit.api and soxr cost an idle bridge 36 MB between them; each is imported on
first use (a playback, a metrics endpoint, a token, a resampled stream).
"""

from __future__ import annotations

import subprocess
import sys

LAZY = ("av", "aiohttp", "soxr", "livekit.api")


def test_the_server_and_the_cli_import_none_of_the_lazy_packages() -> None:
    code = (
        "import sys, lkbridge.cli.main, lkbridge.server.grpc.server; "
        f"print(' '.join(m for m in {LAZY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == []

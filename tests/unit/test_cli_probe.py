"""The CLI's light probe path: the version, what `health` imports, the probe parser in step with
the typer command.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
import typer

import lkbridge
from lkbridge.cli import probe
from lkbridge.cli.main import app


def test_version_matches_the_package() -> None:
    assert lkbridge.__version__ == importlib.metadata.version("lkbridge")


@pytest.mark.parametrize("argv", [["health", "--bridge", "unix:/nonexistent"], ["--version"]])
def test_probe_paths_import_nothing_heavy(argv: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['lkbridge', *{argv!r}]\n"
        "from lkbridge.cli.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('typer', 'pydantic', 'rich', 'numpy', 'av', 'aiohttp', 'livekit',\n"
        "         'lkbridge.server', 'lkbridge.devstack.livekit')\n"
        "print('HEAVY=' + ','.join(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "HEAVY=", done.stderr


def test_the_probe_parser_and_the_typer_command_agree() -> None:
    command = typer.main.get_command(app).commands["health"]  # type: ignore[attr-defined]
    typed = {
        p.opts[0]: (p.default, p.envvar)
        for p in command.params
        if getattr(p, "param_type_name", "") == "option"
    }
    parser = probe.parser()
    probed = {a.option_strings[0]: a.default for a in parser._actions if a.option_strings}
    assert set(probed) == set(typed)
    for flag, (default, envvar) in typed.items():
        if envvar is None:
            assert probed[flag] == (default if default is not None else False), flag


def test_health_shows_sessions_against_the_limit() -> None:
    from lkbridge._proto import livekit_bridge_pb2 as pb

    old = pb.HealthCheckResponse(active_sessions=3)
    assert probe.sessions_row(old) == "3"  # a bridge without admission
    figures = {"max_sessions": "20", "joins_in_flight": "2", "max_joins_in_flight": "8"}
    busy = pb.HealthCheckResponse(active_sessions=3, metadata=figures)
    assert probe.sessions_row(busy) == "3 of 20 (+2 joining, at most 8)"

"""The `lkbridge` executable: `--version` and `health` answered before the command tree loads.

Everything else goes to main.py's typer app. `lkbridge health --help` goes there too, so the
help a user reads is typer's.
"""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv == ["--version"]:
        from lkbridge import __version__

        print(__version__)
        return
    if argv[:1] == ["health"] and not {"--help", "-h"} & set(argv):
        from lkbridge.cli.probe import main as probe

        raise SystemExit(probe(argv[1:]))
    from lkbridge.cli.main import main as full

    full()

"""`lkbridge setup`: the pinned livekit-server for `lkbridge dev` and `lkbridge loadtest`, on a
machine with only the installed package (no clone, no scripts/setup.sh)."""

from __future__ import annotations

import sys

import typer

from lkbridge.cli.common import EXIT_USAGE, fail


def setup(
    force: bool = typer.Option(False, "--force", help="Build again even when one is found."),
) -> None:
    """Install livekit-server (the pinned version) into ~/.cache/lkbridge/bin with `go install`;
    without Go, print the steps. Exit 0 when it is there, 2 when it cannot be installed."""
    from lkbridge.devstack.install import (
        SetupError,
        existing,
        go_binary,
        install_livekit_server,
        target,
    )

    found = None if force else existing()
    if found is not None:
        print(f"livekit-server: {found}")
        return
    try:
        go = go_binary()
        print(f"building livekit-server into {target()} with {go} install (a few minutes on a "
              "cold cache) ...", file=sys.stderr, flush=True)  # fmt: skip
        path = install_livekit_server(go)
    except SetupError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    print(f"livekit-server: {path}")

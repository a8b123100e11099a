"""Capture the dashboard as an SVG (textual's own export) once it shows a live bridge.

Run headless through textual's pilot, so a capture needs no terminal multiplexer and cannot
catch a half-drawn or "disconnected" screen: it waits until the bridge answers with the
sessions it was told to expect, streaming, then lets the rates and sparklines fill before
saving. scripts/tui-screenshot.sh drives it against a private dev stack:

    python -m lkbridge.tui.screenshot --bridge unix:/path/bridge.sock --out docs/tui-screen.svg
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from lkbridge.tui.app import BridgeDashboard
from lkbridge.tui.widgets.sessions import SessionTable


class CaptureFailed(Exception):
    pass


def _live(app: BridgeDashboard, sessions: int) -> bool:
    """Connected, the expected sessions listed, and audio moving both ways in one of them."""
    if not app.connected or app.snapshot is None:
        return False
    shown = app.query_one(SessionTable).shown_users
    streaming = [
        s
        for s in app.snapshot.sessions
        if s.stream_open and s.frames_in_per_s > 0 and s.frames_out_per_s > 0
    ]
    return len(shown) >= sessions and bool(streaming)


async def capture(
    target: str,
    out: Path,
    *,
    sessions: int,
    settle_s: float,
    timeout_s: float,
    size: tuple[int, int],
) -> None:
    app = BridgeDashboard(target, interval_ms=500)
    async with app.run_test(size=size) as pilot:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not _live(app, sessions):
            if loop.time() > deadline:
                state = "connected to" if app.connected else "no answer from"
                raise CaptureFailed(
                    f"the dashboard never showed {sessions} live session(s) with a stream "
                    f"within {timeout_s:g} s ({state} {target})"
                )
            await pilot.pause(0.25)
        await pilot.pause(settle_s)  # rates need a window, sparklines a history
        if not _live(app, sessions):
            raise CaptureFailed(f"the sessions went away while the screen settled ({target})")
        out.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lkbridge.tui.screenshot")
    parser.add_argument("--bridge", required=True, help="host:port or unix:/path")
    parser.add_argument("--out", required=True, type=Path, help="the SVG to write")
    parser.add_argument("--sessions", type=int, default=1, help="wait until this many show")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds of history to show")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--size", default="120x36", help="columns x rows")
    args = parser.parse_args(argv)
    try:
        columns, rows = (int(n) for n in args.size.split("x"))
    except ValueError:
        print(f"error: --size wants COLUMNSxROWS, not {args.size!r}", file=sys.stderr)
        return 2
    try:
        asyncio.run(
            capture(
                args.bridge,
                args.out,
                sessions=args.sessions,
                settle_s=args.settle,
                timeout_s=args.timeout,
                size=(columns, rows),
            )
        )
    except CaptureFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"captured {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

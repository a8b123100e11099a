"""Getting the pinned livekit-server onto a machine that has none: `lkbridge setup`.

With Go on PATH: `go install` of the pinned module into the cache (as scripts/setup.sh does for
a clone), so an installed wheel needs no clone and no script. Without Go: the exact steps, in
one message. Go's own GOMODCACHE, GOCACHE, GOPROXY and GOFLAGS are honoured when set (an
offline machine with a filled module cache builds with GOPROXY=off).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from lkbridge.devstack.livekit import LIVEKIT_SERVER_VERSION, LiveKitServerNotFound, find_binary
from lkbridge.devstack.state import cache_dir

MODULE = "github.com/livekit/livekit-server/cmd/server"
RELEASES = f"https://github.com/livekit/livekit/releases/tag/{LIVEKIT_SERVER_VERSION}"


class SetupError(RuntimeError):
    """The server could not be installed; the message says what to do instead."""


def target() -> Path:
    return cache_dir() / "bin" / f"livekit-server-{LIVEKIT_SERVER_VERSION}"


def manual_steps() -> str:
    return (
        f"install Go >= 1.26 (https://go.dev/dl) and run `lkbridge setup` again, or put a "
        f"livekit-server {LIVEKIT_SERVER_VERSION} binary ({RELEASES}) on PATH or in "
        f"LKBRIDGE_LIVEKIT_SERVER"
    )


def existing() -> Path | None:
    try:
        return find_binary()
    except LiveKitServerNotFound:
        return None


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        raise SetupError(f"Go is not on PATH: {manual_steps()}")
    return go


def install_livekit_server(go: str, log: Path | None = None) -> Path:
    """`go install` the pinned server into the cache; its output goes to `log` (default: a
    file in the cache) so the caller prints one line either way."""
    cache = cache_dir()
    gobin = cache / "gobin"
    gobin.mkdir(parents=True, exist_ok=True)
    log = log or cache / "setup-livekit-server.log"
    env = {
        **os.environ,
        "GOBIN": str(gobin),
        "GOMODCACHE": os.environ.get("GOMODCACHE") or str(cache / "gomod"),
        "GOCACHE": os.environ.get("GOCACHE") or str(cache / "gocache"),
        "GOFLAGS": os.environ.get("GOFLAGS") or "-mod=mod",
    }
    with log.open("wb") as out:
        done = subprocess.run(
            [go, "install", f"{MODULE}@{LIVEKIT_SERVER_VERSION}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=cache,  # not the user's folder: a go.mod there would change what is built
        )  # fmt: skip
    built = gobin / "server"
    if done.returncode != 0 or not built.is_file():
        last = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        why = last[-1].strip()[:300] if last else f"exit {done.returncode}"
        raise SetupError(f"go install {MODULE}@{LIVEKIT_SERVER_VERSION} failed: {why} (log: {log})")
    final = target()
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(built, final)
    return final

"""`lkbridge loadtest` as a user meets it: started from the folder that holds the clone (a
folder named like the package), on a terminal (a live line), its soak page, its cleanup of old
runs, a profile it must refuse; `lkbridge dev` and `lkbridge setup` on a machine with no
livekit-server. Every command here is the venv's real `lkbridge`, run in a child."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from lkbridge.devstack.livekit import LIVEKIT_SERVER_VERSION, find_binary
from lkbridge.devstack.state import cache_dir
from tests.conftest import BridgeEnv
from tests.support.cli import LKBRIDGE, run_on_a_terminal

LOOSE_GATES = ["--max-fail-ratio", "0.5", "--max-p95-ms", "5000"]  # a loaded machine: figures
LIVE_LINE = "chunks/s"


class Polylines(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[float]] = {}
        self.times: dict[str, list[float]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "polyline" and found.get("data-series"):
            name = str(found["data-series"])
            self.values[name] = [float(v) for v in (found["data-v"] or "").split()]
            self.times[name] = [float(v) for v in (found["data-t"] or "").split()]


def test_from_the_clones_folder_on_a_terminal_live_soak_page_and_old_runs_pruned(
    tmp_path: Path,
) -> None:
    """The issue's steps: `cd` to the folder that holds the clone (a folder `lkbridge/` with no
    __init__.py), run the venv's `lkbridge loadtest --users 1 --duration 5s`. The old code
    started its bridge with `python -m lkbridge` there: `ImportError: cannot import name
    '__version__' from 'lkbridge' (unknown location)`, exit 5."""
    parent = tmp_path / "parent"
    (parent / "lkbridge" / "lkbridge").mkdir(parents=True)  # the clone, seen from its parent
    (parent / "lkbridge" / "pyproject.toml").write_text('[project]\nname = "lkbridge"\n')
    cache = tmp_path / "cache"
    runs = cache / "loadtest"
    old = [runs / f"20260101-0000{i:02d}-abcdef" for i in range(12)]
    for path in old:
        path.mkdir(parents=True)
        (path / "report.html").write_text("old")
    kept_apart = runs / "my-notes"  # not named like a run: never touched
    kept_apart.mkdir()
    env = dict(os.environ, LKBRIDGE_CACHE=str(cache),
               LKBRIDGE_LIVEKIT_SERVER=str(find_binary()))  # fmt: skip
    code, out, shown = run_on_a_terminal(
        [*LKBRIDGE, "loadtest", "--users", "1", "--duration", "5s", "--keep-runs", "3",
         *LOOSE_GATES], cwd=parent, env=env,
    )  # fmt: skip
    assert code == 0, out + shown
    assert "ImportError" not in shown and "Traceback" not in shown
    live = [part for part in shown.split("\r") if LIVE_LINE in part]
    assert live, shown  # the live line, redrawn in place
    assert "users 1" in live[-1] and "latency p50 " in live[-1] and "failures " in live[-1]
    assert "bridge RSS " in shown
    page = next(line.split(": ", 1)[1] for line in out.splitlines()
                if line.startswith("soak page: "))  # fmt: skip
    run_dir = Path(page).parent
    assert run_dir.parent == runs
    left = sorted(p.name for p in runs.iterdir())
    assert left == sorted([run_dir.name, old[-1].name, old[-2].name, "my-notes"]), left
    assert "removed 10 older runs" in shown

    # the soak page plots the run's own samples
    with open(run_dir / "timeline.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 2
    lines = Polylines()
    lines.feed(Path(page).read_text())
    answered = [r for r in rows if float(r["rss_mb"]) >= 0]
    assert lines.values["RSS"] == [float(r["rss_mb"]) for r in answered]
    assert lines.times["RSS"] == [float(r["t_s"]) for r in answered]
    assert lines.values["tasks"] == [float(r["tasks"]) for r in answered]
    assert lines.values["open fds"] == [float(r["open_fds"]) for r in answered]
    assert lines.values["p95"] == [float(r["p95_ms"]) for r in rows]
    assert lines.values["holes"] == [float(r["holes"]) for r in rows]
    assert lines.values["stalls"] == [float(r["stalls"]) for r in rows]
    assert max(lines.values["chunks/s"]) > 5, "room audio at 10 chunks/s reached the user"
    assert max(lines.values["sessions"]) == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    text = Path(page).read_text()
    for verdict in summary["gates"]["lines"]:
        assert verdict.replace(">", "&gt;") in text
    latency = summary["audio"]["latency_ms"]
    assert latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]


async def test_no_live_and_json_keep_a_terminal_quiet(bridge: BridgeEnv, tmp_path: Path) -> None:
    """Against the fixture's in-process bridge: the runs wait in a thread, so it serves."""
    cfg = bridge.livekit.server.config
    given = ["--bridge", bridge.target, "--livekit-url", cfg.url, "--api-key", cfg.api_key,
             "--api-secret", cfg.api_secret, *LOOSE_GATES]  # fmt: skip
    code, out, shown = await asyncio.to_thread(
        run_on_a_terminal,
        [*LKBRIDGE, "loadtest", "-u", "1", "-d", "4s", "--no-live", "--out",
         str(tmp_path / "a"), *given], dict(os.environ), tmp_path,
    )  # fmt: skip
    assert code == 0, out + shown
    assert LIVE_LINE not in shown and "device->client latency" in out
    code, out, shown = await asyncio.to_thread(
        run_on_a_terminal,
        [*LKBRIDGE, "loadtest", "-u", "1", "-d", "4s", "--json", "--out", str(tmp_path / "b"),
         *given], dict(os.environ), tmp_path,
    )  # fmt: skip
    assert code == 0, out + shown
    assert LIVE_LINE not in shown and json.loads(out)["users"] == 1


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_profile_named_but_missing_or_broken_stops_loadtest_too(tmp_path: Path) -> None:
    """LKBRIDGE_CONFIG naming a missing file was ignored silently, and `loadtest` ran with a
    profile every other command refuses."""
    missing = dict(os.environ, LKBRIDGE_CONFIG=str(tmp_path / "typo.toml"))
    for args in (["loadtest", "-u", "1", "-d", "5s", "--out", str(tmp_path / "run")],
                 ["status", "u", "--timeout", "1"]):  # fmt: skip
        result = subprocess.run([*LKBRIDGE, *args], capture_output=True, text=True, env=missing,
                                timeout=60, cwd=tmp_path)  # fmt: skip
        assert result.returncode == 2, result.stdout + result.stderr
        assert "typo.toml: no such file (named by LKBRIDGE_CONFIG)" in one_line(result)
    broken = tmp_path / "config.toml"
    broken.write_text("bridge = 9090\n")
    result = subprocess.run(
        [*LKBRIDGE, "loadtest", "-u", "1", "-d", "5s", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env=dict(os.environ, LKBRIDGE_CONFIG=str(broken)),
    )  # fmt: skip
    assert result.returncode == 2 and "bridge must be a string" in one_line(result)
    assert not (tmp_path / "run").exists(), "nothing started"


def bare_path() -> str:
    """PATH without Go and without any livekit-server: the venv's scripts and the system's."""
    keep = [str(Path(sys.executable).parent), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    return os.pathsep.join(keep)


def test_dev_without_livekit_server_says_how_and_setup_installs_it(tmp_path: Path) -> None:
    real_cache = cache_dir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "LKBRIDGE_LIVEKIT"))}
    env |= {"LKBRIDGE_CACHE": str(tmp_path / "cache"), "LKBRIDGE_DEV_DIR": str(tmp_path / "dev"),
            "PATH": bare_path()}  # fmt: skip

    def lkbridge(*args: str, extra: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run([*LKBRIDGE, *args], capture_output=True, text=True, cwd=tmp_path,
                              env=env | (extra or {}), timeout=600)  # fmt: skip

    dev = lkbridge("dev", "--signal", "tone")
    assert dev.returncode == 2, dev.stdout + dev.stderr
    line = one_line(dev)
    assert f"livekit-server {LIVEKIT_SERVER_VERSION} not found" in line
    assert "LKBRIDGE_LIVEKIT_SERVER unset" in line and "on PATH" in line
    assert "run `lkbridge setup`" in line and "scripts/setup.sh" not in line

    no_go = lkbridge("setup")
    assert no_go.returncode == 2
    line = one_line(no_go)
    assert "Go is not on PATH" in line and "https://go.dev/dl" in line
    assert "LKBRIDGE_LIVEKIT_SERVER" in line and LIVEKIT_SERVER_VERSION in line

    # with Go: `go install` into the cache; offline, from the module cache setup.sh filled
    modules = real_cache / "gomod"
    go = {"PATH": f"{bare_path()}{os.pathsep}/usr/local/go/bin",
          "GOMODCACHE": str(modules), "GOCACHE": str(real_cache / "gocache"),
          "GOPROXY": f"file://{modules}/cache/download", "GOSUMDB": "off"}  # fmt: skip
    built = lkbridge("setup", extra=go)
    assert built.returncode == 0, built.stderr[-2000:]
    path = Path(built.stdout.strip().removeprefix("livekit-server: "))
    assert path == tmp_path / "cache" / "bin" / f"livekit-server-{LIVEKIT_SERVER_VERSION}"
    version = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    assert LIVEKIT_SERVER_VERSION.lstrip("v") in version.stdout + version.stderr
    again = lkbridge("setup")  # found now: nothing to build, no Go needed
    assert (again.returncode, again.stdout.strip()) == (0, f"livekit-server: {path}")

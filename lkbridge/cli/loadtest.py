"""`lkbridge loadtest`: N users for D seconds, like `lk load-test`, on locust.

Against a stack it starts (SFU, bridge, one speaking device per room, a clip server, on free
ports, its files in the run's directory) or against a given bridge and SFU. Shows live figures
on a terminal, then prints device -> client latency percentiles, holes, the bridge's RSS and
tasks, and the gates, and writes soak.html (the run over time) beside locust's report. The
scenarios are in the package (lkbridge/loadtest/), installed with the `load` extra; exit codes:

    0  every gate passed          3  the bridge or the SFU refused (auth token, API key/secret)
    1  a gate failed              4  the bridge answers NOT_SERVING
    2  cannot reach the bridge or the SFU (or a usage error)
    5  cannot run: locust missing (pip install 'lkbridge[load]'), the local stack did not
       start, or locust ended without a summary

Locust is imported by the child process only, so `--help` stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from lkbridge.cli.profile import Profile

EXIT_GATE_FAILED = 1
EXIT_CANNOT_CONNECT = 2
EXIT_USAGE = 2  # as click's own usage errors
EXIT_REFUSED = 3
EXIT_NOT_SERVING = 4
EXIT_CANNOT_RUN = 5
# the scenarios' file, found without importing it (that would load gevent and locust here);
# locust runs with this folder as its working directory: nothing of the user's folder (a
# locust.conf, a folder named like a package) reaches its sys.path or its options
LOCUSTFILE = Path(__file__).resolve().parents[1] / "loadtest" / "scenarios.py"
DEFAULT_MASTER_PORT = 5557
RUN_NAME = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")  # the default run directories' names
RUNNING = ".running"  # locked by the run that writes the directory, until it ends
SECRET_ENV = "LKBRIDGE_LOADTEST_LIVEKIT_SECRET"  # read by lkbridge/loadtest/scenarios.py
AUTH_ENV = "LKBRIDGE_LOADTEST_AUTH_TOKEN"


def _fail(message: str, code: int) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def parse_seconds(text: str) -> float:
    """`90`, `90s`, `5m`, `2h` -> seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    raw = text.strip().lower()
    factor = units.get(raw[-1:], 0.0)
    try:
        value = float(raw[:-1] if factor else raw) * (factor or 1.0)
    except ValueError:
        _fail(f"{text!r} is not a duration (like 60, 90s, 5m, 2h)", EXIT_USAGE)
    if value <= 0:
        _fail(f"{text!r}: a duration must be positive", EXIT_USAGE)
    return value


def loadtest(
    users: int = typer.Option(5, "--users", "-u", min=1, help="Users (bridge sessions)."),
    duration: str = typer.Option("60s", "--duration", "-d", help="Run time: 60, 90s, 5m, 2h."),
    ramp: str = typer.Option("5s", "--ramp", help="Time to reach --users (within --duration)."),
    shape: str = typer.Option(
        "soak", help="soak: ramp, plateau; churn: soak with leave/rejoin; steps: +N every S s."
    ),
    step_users: int = typer.Option(2, help="steps: users added per step."),
    step_s: float = typer.Option(30.0, help="steps: seconds per step (ignores --duration)."),
    rooms: int = typer.Option(0, min=0, help="Rooms with a speaking device (0: one per user)."),
    bridge: str | None = typer.Option(
        None, "--bridge", help="host:port of a running bridge (default: start a stack)."
    ),
    livekit_url: str | None = typer.Option(None, help="With --bridge: the SFU the bridge uses."),
    api_key: str | None = typer.Option(None, envvar="LIVEKIT_API_KEY", help="With --bridge."),
    api_secret: str | None = typer.Option(
        None, envvar="LIVEKIT_API_SECRET", help="With --bridge.", show_default=False
    ),
    auth_token: str | None = typer.Option(
        None, "--auth-token", envvar="LKBRIDGE_AUTH_TOKEN", show_default=False
    ),
    clip_url: str | None = typer.Option(
        None, help="Audio the users play (default: a 1.5 s clip served here; with --bridge: none)."
    ),
    out: Path | None = typer.Option(
        None, help="Logs, CSV, HTML report (default: a new dir under ~/.cache/lkbridge/loadtest)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (no live line)."),
    live: bool = typer.Option(
        True, "--live/--no-live", help="Live figures on stderr while it runs (on a terminal)."
    ),
    keep_runs: int = typer.Option(
        10, min=1, help="Without --out: keep the newest N runs under ~/.cache/lkbridge/loadtest."
    ),
    web: bool = typer.Option(False, "--web", help="Locust's web UI on 127.0.0.1; Ctrl-C ends."),
    web_port: int = typer.Option(0, help="Port of --web (0: a free one)."),
    processes: int = typer.Option(0, min=0, help="Locust worker processes on this machine."),
    master: bool = typer.Option(False, "--master", help="Locust master for remote --worker."),
    expect_workers: int = typer.Option(1, min=1, help="--master: workers to wait for."),
    master_bind_host: str = typer.Option("127.0.0.1", help="--master: address to listen on."),
    worker: bool = typer.Option(False, "--worker", help="Only a locust worker of a --master."),
    master_host: str | None = typer.Option(None, help="--worker: the master's host."),
    master_port: int = typer.Option(DEFAULT_MASTER_PORT, help="The master's port."),
    max_fail_ratio: float = typer.Option(0.01, help="Gate: failed requests / requests."),
    max_p95_ms: float = typer.Option(500.0, help="Gate: device->client p95 latency."),
    max_rss_slope_mb_h: float = typer.Option(100.0, help="Gate: bridge RSS growth."),
    max_task_slope_per_h: float = typer.Option(100.0, help="Gate: bridge task growth."),
    min_plateau_s: float = typer.Option(600.0, help="Shortest plateau judged for growth."),
) -> None:
    """N users for D seconds against the bridge; prints latency, holes, RSS, tasks, gates.

    Exit codes: 0 gates passed, 1 a gate failed, 2 cannot reach the bridge or the SFU,
    3 refused (auth token, API key), 4 bridge not serving, 5 cannot run (no locust, no stack).
    """
    _check_choices(shape, worker, master_host, master, processes)
    total_s, ramp_s = parse_seconds(duration), parse_seconds(ramp)
    from lkbridge.cli.calls import profile_or_fail

    profile = profile_or_fail()  # a broken profile stops this command as it stops the others
    if bridge:  # a given bridge: its SFU, keys and token may come from the profile
        livekit_url, api_key, api_secret, auth_token = _with_profile(
            profile, livekit_url, api_key, api_secret, auth_token
        )
    _require_locust()
    if worker:
        assert master_host is not None
        raise typer.Exit(_run_worker(master_host, master_port, processes))
    if bridge is None:  # the local stack's SFU and devices meet in the project's namespace
        from lkbridge.devstack import netns

        netns.reexec_inside()
    from lkbridge.devstack.livekit import cache_dir

    run_id = secrets.token_hex(3)
    runs = cache_dir() / "loadtest"
    out_dir = out or runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{run_id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    running = None if out else _hold(out_dir)  # noqa: F841 - locked until this process ends
    ramp_s = min(ramp_s, total_s / 2)
    plan = {
        "--rooms": str(rooms or users), "--room-prefix": f"load-{run_id}", "--shape": shape,
        "--plateau-users": str(users), "--ramp-s": str(ramp_s),
        "--plateau-s": str(total_s - ramp_s), "--step-users": str(step_users),
        "--step-s": str(step_s), "--max-fail-ratio": str(max_fail_ratio),
        "--max-p95-ms": str(max_p95_ms), "--max-rss-slope-mb-h": str(max_rss_slope_mb_h),
        "--max-task-slope-per-h": str(max_task_slope_per_h),
        "--min-plateau-s": str(min_plateau_s),
    }  # fmt: skip
    from lkbridge.loadtest.stack import LoadStack

    with LoadStack(out_dir) as stack:
        target, secret = _targets(stack, plan, bridge, clip_url, livekit_url, api_key,
                                  api_secret, auth_token)  # fmt: skip
        # secrets reach locust by its environment, never its command line (ps shows that)
        env = {SECRET_ENV: secret, AUTH_ENV: auth_token or ""}
        distributed = _distribution(master, processes, expect_workers, master_bind_host,
                                    master_port)  # fmt: skip
        show = live and not as_json and sys.stderr.isatty()
        summary = _run_master(target, plan, env, out_dir, distributed, web, web_port, show)
    summary["out"] = str(out_dir)
    summary["soak_page"] = str(_soak_page(out_dir, summary))
    if out is None:
        _prune(runs, keep_runs, out_dir)
    _print_summary(summary, as_json)
    raise typer.Exit(0 if summary["gates"]["passed"] else EXIT_GATE_FAILED)


def _check_choices(shape: str, worker: bool, master_host: str | None, master: bool,
                   processes: int) -> None:  # fmt: skip
    """Options that cannot go together, refused before anything starts."""
    if shape not in ("soak", "churn", "steps"):
        _fail("--shape must be soak, churn or steps", EXIT_USAGE)
    if worker and not master_host:
        _fail("--worker needs --master-host", EXIT_USAGE)
    if master and processes:
        _fail("--master waits for remote --worker processes; --processes forks local ones: "
              "choose one", EXIT_USAGE)  # fmt: skip


def _with_profile(profile: Profile, livekit_url: str | None, api_key: str | None,
                  api_secret: str | None, auth_token: str | None
                  ) -> tuple[str, str, str, str | None]:  # fmt: skip
    """A given bridge's SFU, keys and token: the options, else the profile's."""
    livekit_url = livekit_url or profile.livekit_url or None
    api_key = api_key or profile.livekit_api_key or None
    api_secret = api_secret or profile.livekit_api_secret or None
    if not (livekit_url and api_key and api_secret):
        _fail("--bridge needs --livekit-url, --api-key and --api-secret (or the profile's "
              "livekit_url, livekit_api_key, livekit_api_secret)", EXIT_USAGE)  # fmt: skip
    return livekit_url, api_key, api_secret, auth_token or profile.auth_token or None


def _targets(stack: Any, plan: dict[str, str], bridge: str | None, clip_url: str | None,
             livekit_url: str | None, api_key: str | None, api_secret: str | None,
             auth_token: str | None) -> tuple[str, str]:  # fmt: skip
    """The bridge and SFU the run drives (its own stack's, or checked given ones) and the
    speaking devices; adds the SFU and clip to `plan`. Returns (bridge, SFU secret)."""
    from lkbridge.loadtest.stack import StackError

    try:
        if bridge is None:
            target, url, key, secret, clip = _start_stack(stack, clip_url)
        else:
            assert livekit_url and api_key and api_secret
            target, url, key, secret = bridge, livekit_url, api_key, api_secret
            _check_bridge(target, auth_token)
            _check_sfu(url, key, secret)
            clip = clip_url or ""
        stack.start_devices(url, key, secret, int(plan["--rooms"]), plan["--room-prefix"])
    except StackError as exc:
        _fail(str(exc), EXIT_CANNOT_RUN)
    plan |= {"--livekit-url": url, "--livekit-key": key, "--clip-url": clip}
    return target, secret


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    from lkbridge.loadtest.summary import format_text

    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_text(summary))
        print(f"soak page: {summary['soak_page']}")
        print(f"files: {summary['out']}")


def _start_stack(stack: Any, clip_url: str | None) -> tuple[str, str, str, str, str]:
    """SFU, bridge and clip server of a run's own: (bridge, SFU URL, key, secret, clip URL)."""
    sfu = stack.start_sfu()
    target = stack.start_bridge()
    clip = clip_url if clip_url is not None else stack.start_clip_server()
    return target, sfu.url, sfu.api_key, sfu.api_secret, clip


def _require_locust() -> None:
    if importlib.util.find_spec("locust") is None:
        _fail("locust is not installed: pip install 'lkbridge[load]' (in a clone: "
              "pip install -c constraints.txt -e '.[dev]')", EXIT_CANNOT_RUN)  # fmt: skip


def _soak_page(out_dir: Path, summary: dict[str, Any]) -> Path:
    from lkbridge.loadtest.soakpage import SOAK_HTML, write_page
    from lkbridge.loadtest.timeline import TIMELINE_CSV, read_rows

    timeline = out_dir / TIMELINE_CSV
    rows = read_rows(timeline) if timeline.is_file() else []
    return write_page(out_dir / SOAK_HTML, rows, summary)


def _hold(out_dir: Path) -> IO[str]:
    """Mark the run's directory as in use: a lock on its RUNNING file, which the kernel
    releases when this process ends, however it ends."""
    handle = (out_dir / RUNNING).open("w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _in_use(path: Path) -> bool:
    """Whether a run (another `lkbridge loadtest`, a soak of hours) still writes `path`."""
    try:
        handle = (path / RUNNING).open("r")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _prune(runs: Path, keep: int, current: Path) -> None:
    """The default run directories beyond the newest `keep` go (each run leaves about 1 MB);
    a directory given with --out, one not named like ours, or one a run still writes (a soak
    started before the newest `keep` short runs) is never touched."""
    ours = sorted((p for p in runs.iterdir() if p.is_dir() and RUN_NAME.match(p.name)),
                  key=lambda p: p.name, reverse=True)  # fmt: skip
    gone = [p for p in ours[keep:] if p != current and not _in_use(p)]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    if gone:
        print(f"removed {len(gone)} older runs from {runs} (--keep-runs {keep})", file=sys.stderr)


def _check_bridge(target: str, auth_token: str | None) -> None:
    from lkbridge._proto import livekit_bridge_pb2 as pb
    from lkbridge.client import BridgeClient
    from lkbridge.errors import ClientError

    async def health() -> int:
        async with BridgeClient(target, auth_token=auth_token, timeout=5.0) as client:
            return (await client.health()).status

    try:
        status = asyncio.run(health())
    except ClientError as exc:
        if exc.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
            _fail(f"cannot reach the bridge at {target}: {exc.details}", EXIT_CANNOT_CONNECT)
        _fail(f"the bridge at {target} refused: {exc.code}: {exc.details}", EXIT_REFUSED)
    if status != pb.HealthCheckResponse.SERVING:
        _fail(f"the bridge at {target} is not serving", EXIT_NOT_SERVING)


def _check_sfu(url: str, key: str, secret: str) -> None:
    from lkbridge.loadtest.stack import SfuRefused, SfuUnreachable, check_sfu

    try:
        check_sfu(url, key, secret)
    except SfuRefused as exc:
        _fail(str(exc), EXIT_REFUSED)
    except SfuUnreachable as exc:
        _fail(str(exc), EXIT_CANNOT_CONNECT)


def _distribution(master: bool, processes: int, workers: int, bind_host: str,
                  port: int) -> list[str]:  # fmt: skip
    """Locust's own distributed mode: forked workers here, or a master for remote ones."""
    from lkbridge.devstack.ports import free_port

    if processes:  # the forked workers reach the master on loopback
        local = str(free_port())
        return ["--processes", str(processes), "--master-bind-host", "127.0.0.1",
                "--master-bind-port", local, "--master-port", local,
                "--expect-workers-max-wait", "60"]  # fmt: skip
    if master:
        return ["--master", "--master-bind-host", bind_host, "--master-bind-port", str(port),
                "--expect-workers", str(workers), "--expect-workers-max-wait", "120"]  # fmt: skip
    return []


def _locust(*args: str) -> list[str]:
    from lkbridge.procs import python_module

    return python_module("locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING", *args)


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **(extra or {})}


def _run_worker(master_host: str, master_port: int, processes: int) -> int:
    """A worker takes every option (host, keys, shape) from its master."""
    args = ["--worker", "--master-host", master_host, "--master-port", str(master_port)]
    if processes:
        args += ["--processes", str(processes)]
    return _wait(_popen(_locust(*args), env=_child_env()))


def _run_master(target: str, plan: dict[str, str], env: dict[str, str], out_dir: Path,
                distributed: list[str], web: bool, web_port: int, show: bool
                ) -> dict[str, Any]:  # fmt: skip
    from lkbridge.devstack.ports import free_port

    summary_path = out_dir / "summary.json"
    summary_path.unlink(missing_ok=True)
    args = [
        "--host", target, "--csv", str(out_dir / "locust"), "--html", str(out_dir / "report.html"),
        "--timeline-dir", str(out_dir), "--summary-json", str(summary_path),
        "--stop-timeout", "10", *distributed,
        *(item for pair in plan.items() for item in pair),
    ]  # fmt: skip
    if web:
        port = web_port or free_port()
        args += ["--web-host", "127.0.0.1", "--web-port", str(port), "--autostart"]
        print(f"locust web UI: http://127.0.0.1:{port}  (Ctrl-C ends the run)", file=sys.stderr)
    else:
        args += ["--headless", "--only-summary"]
    print(f"load run: {plan['--plateau-users']} users ({plan['--shape']}), bridge {target}, "
          f"files in {out_dir}", file=sys.stderr)  # fmt: skip
    log_path = out_dir / "locust.log"
    with log_path.open("ab") as log:
        proc = _popen(_locust(*args), env=_child_env(env), stdout=log, stderr=subprocess.STDOUT)
        code = _wait(proc, _LiveLine(out_dir) if show else None)
    try:
        result: dict[str, Any] = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        _fail(f"locust ended (exit {code}) without a summary; see {log_path}: "
              f"{_last_line(log_path)}", EXIT_CANNOT_RUN)  # fmt: skip
    return result


class _LiveLine:
    """One line on stderr, redrawn from the run's live.json (its sampler writes it every
    few seconds): elapsed time, users, chunks/s, latency, holes, stalls, failures, the bridge."""

    def __init__(self, out_dir: Path) -> None:
        from lkbridge.loadtest.timeline import LIVE_JSON

        self.path = out_dir / LIVE_JSON
        self.path.unlink(missing_ok=True)
        self.shown = False

    def show(self) -> None:
        from lkbridge.loadtest.timeline import read_live

        row = read_live(self.path)
        if row is None:
            return
        t = int(row.get("elapsed_s", 0))
        line = (f"{t // 3600}:{t // 60 % 60:02d}:{t % 60:02d}  users {row['users']:.0f}  "
                f"chunks/s {row['chunks_per_s']:.1f}  latency p50 {row['p50_ms']:.0f} ms "
                f"p95 {row['p95_ms']:.0f} ms  holes {row['holes']:.0f}  "
                f"stalls {row['stalls']:.0f}  failures {row['failures']:.0f}")  # fmt: skip
        if row["rss_mb"] >= 0:
            cpu = f"  CPU {row['cpu_pct']:.0f}%" if row["cpu_pct"] >= 0 else ""
            line += f"  | bridge RSS {row['rss_mb']:.0f} MB  tasks {row['tasks']:.0f}{cpu}"
        print(f"\r\x1b[2K{line}", end="", file=sys.stderr, flush=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr, flush=True)


def _wait(proc: subprocess.Popen[bytes], live: _LiveLine | None = None) -> int:
    """Wait for locust (redrawing the live line each second). Ctrl-C or SIGTERM ends the run
    the way locust ends one on SIGTERM (users stopped, summary written); a second one kills
    it. Locust runs in its own session, so a terminal's Ctrl-C reaches this process only, and
    the stack outlives the users."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def wait_showing() -> int:
        if live is None:
            return proc.wait()
        try:
            while True:
                try:
                    return proc.wait(1.0)
                except subprocess.TimeoutExpired:
                    live.show()
        finally:
            live.close()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        try:
            return wait_showing()
        except KeyboardInterrupt:
            proc.terminate()
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.kill()
                return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _popen(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Locust in a session of its own, sent SIGTERM (a clean end of the run) if we die."""
    from lkbridge.procs import die_with_parent

    return subprocess.Popen([*die_with_parent("TERM"), *argv], cwd=LOCUSTFILE.parent,
                            start_new_session=True, **kwargs)  # fmt: skip


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "(empty)"

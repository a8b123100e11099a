"""`lkbridge loadtest` against the real stack: a run on the stack it starts, locust's master
with two worker processes against a given bridge and SFU, and every input a user gets wrong
ending in one line with its exit code."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from lkbridge.devstack.ports import free_port
from tests.conftest import BridgeEnv, BridgeFactory

ROOT = Path(__file__).resolve().parents[2]
LOOSE_GATES = ["--max-fail-ratio", "0.5", "--max-p95-ms", "5000"]  # a loaded machine: figures
AUDIO_ROWS = ("device->client", "hole", "stall")  # the summary's audio figures, not its rows


def lkbridge(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lkbridge", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )  # fmt: skip


def test_a_run_on_its_own_stack_prints_a_short_summary(tmp_path: Path) -> None:
    result = lkbridge("loadtest", "-u", "3", "-d", "15s", "--out", str(tmp_path), *LOOSE_GATES)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) < 30, result.stdout  # locust's tables stay in the run's files
    assert lines[0].startswith("load run: 3 users")
    assert lines[1].startswith("device->client latency: p50 ")
    assert any(line.startswith("bridge: RSS ") for line in lines)
    assert "gate: PASS device->client p95 latency" in result.stdout
    assert "gate: SKIP growth gates" in result.stdout  # 15 s is no plateau to judge growth on
    summary = json.loads((tmp_path / "summary.json").read_text())
    audio = summary["audio"]
    assert audio["frames"] > 3 * 10 * 8, "room audio reached every user"
    assert 0 < audio["latency_ms"]["p50"] <= audio["latency_ms"]["p95"] < 5000
    assert audio["holes"] <= audio["frames"] // 100  # reliable packets: none, or next to none
    assert summary["bridge"]["sessions_max"] == 3
    assert summary["bridge"]["rss_mb"]["max"] > 50 and summary["bridge"]["tasks"]["max"] > 0
    with open(tmp_path / "locust_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    assert int(rows["JoinRoom"]["Request Count"]) == 3
    assert int(rows["device->client"]["Request Count"]) > 0  # written apart from the summary
    assert (tmp_path / "report.html").stat().st_size > 1000
    assert "Traceback" not in result.stderr


@dataclass
class DistributedRun:
    code: int
    out: str
    err: str
    worker_codes: list[int]
    counted: dict[int, dict[str, int]]  # worker index -> what that worker counted itself
    took_s: float


COUNTED = re.compile(r"^worker (\d+) counted: (\{.*\})$", re.MULTILINE)


async def distributed_run(bridge: BridgeEnv, tmp_path: Path, silence_one: bool = False
                          ) -> DistributedRun:  # fmt: skip
    """`lkbridge loadtest --master` and two `--worker` processes, 4 users for 12 s against the
    fixture's bridge and SFU. `silence_one`: once the bridge holds every user's session, one
    worker's locust process is stopped (SIGSTOP) so its final report can never come."""
    cfg = bridge.livekit.server.config
    port = str(free_port())
    started = time.monotonic()
    master = subprocess.Popen(
        [sys.executable, "-m", "lkbridge", "loadtest", "-u", "4", "-d", "12s", "--json",
         "--master", "--expect-workers", "2", "--master-port", port, "--out", str(tmp_path),
         "--bridge", bridge.target, "--livekit-url", cfg.url, "--api-key", cfg.api_key,
         *LOOSE_GATES],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "LIVEKIT_API_SECRET": cfg.api_secret},
    )  # fmt: skip
    worker = [sys.executable, "-m", "lkbridge", "loadtest", "--worker", "--master-host",
              "127.0.0.1", "--master-port", port]  # fmt: skip
    paths = [tmp_path / f"worker-{i}.out" for i in range(2)]
    logs = [path.open("w") for path in paths]
    workers = [subprocess.Popen(worker, stdout=log, stderr=log, cwd=ROOT) for log in logs]
    silenced: list[psutil.Process] = []
    try:
        if silence_one:
            await every_user_joined(bridge, 4, master)
            silenced = psutil.Process(workers[1].pid).children()  # locust, under setpriv
            for proc in silenced:
                proc.suspend()
        out, err = await asyncio.to_thread(master.communicate, timeout=240)
        took_s = time.monotonic() - started
        for proc in silenced:
            proc.kill()
        worker_codes = [await asyncio.to_thread(w.wait, 60) for w in workers]
    finally:
        for proc in (master, *workers):
            if proc.poll() is None:
                proc.kill()
        for log in logs:
            log.close()
    counted = {
        int(index): json.loads(counts)
        for path in paths
        for index, counts in COUNTED.findall(path.read_text())
    }
    return DistributedRun(master.returncode, out, err, worker_codes, counted, took_s)


async def every_user_joined(bridge: BridgeEnv, users: int, master: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while (await bridge.client.health()).active_sessions < users:
        assert master.poll() is None and time.monotonic() < deadline, "the users never joined"
        await asyncio.sleep(0.2)


async def test_a_master_with_two_workers_counts_all_they_did(
    bridge: BridgeEnv, tmp_path: Path
) -> None:
    """Against a given bridge and SFU, as a soak bigger than one machine runs: the master
    (gates, sampler, summary) and two `--worker` processes that take every option from it. The
    master's counts are the sum of what each worker counted itself, the users' last LeaveRoom
    and frames included: it sums up only after every worker's final report."""
    run = await distributed_run(bridge, tmp_path)
    assert run.code == 0, run.out + run.err
    assert run.worker_codes == [0, 0], (tmp_path / "worker-0.out").read_text()[-2000:]
    summary = json.loads(run.out)
    assert summary["workers"] == 2 and summary["users"] == 4
    audio = summary["audio"]
    assert audio["frames"] > 4 * 10 * 5, "every user on both workers heard its room"
    assert 0 < audio["latency_ms"]["p50"] <= audio["latency_ms"]["p95"] < 5000
    assert summary["bridge"]["samples"] >= 2 and summary["bridge"]["sessions_max"] == 4
    assert sorted(run.counted) == [0, 1], "each worker printed what it counted"
    total: Counter[str] = Counter()
    for counts in run.counted.values():
        total.update(counts)
    rows = {row["name"]: row for row in summary["requests"]}
    assert {name: row["count"] for name, row in rows.items()} == {
        name: count for name, count in total.items() if name not in AUDIO_ROWS
    }
    assert audio["frames"] == total["device->client"]
    assert audio["holes"] == total["hole"] and audio["stalls"] == total["stall"]
    assert rows["JoinRoom"]["count"] == rows["LeaveRoom"]["count"] == 4
    assert rows["JoinRoom"]["failures"] == 0
    assert summary["gates"]["passed"] and summary["out"] == str(tmp_path)
    assert "sent no final report" not in (tmp_path / "locust.log").read_text()


async def test_a_worker_that_never_reports_is_named_and_not_waited_for_long(
    bridge: BridgeEnv, tmp_path: Path
) -> None:
    run = await distributed_run(bridge, tmp_path, silence_one=True)
    assert run.code == 0, run.out + run.err
    (answered,) = run.counted  # the stopped worker printed nothing
    silent = 1 - answered
    summary = json.loads(run.out)
    missing = f"info: worker {silent} sent no final report: its last seconds are missing"
    assert missing in summary["gates"]["lines"]
    log = (tmp_path / "locust.log").read_text()
    assert f"worker {silent} sent no final report" in log  # missing heartbeats, or 15 s passed
    assert f"worker {answered} sent no final report" not in log
    assert summary["audio"]["frames"] >= run.counted[answered]["device->client"]
    assert run.took_s < 12 + 15 + 90, "the wait for a silent worker is bounded"


def test_processes_fork_local_workers(tmp_path: Path) -> None:
    result = lkbridge("loadtest", "-u", "2", "-d", "10s", "--processes", "2", "--json",
                      "--out", str(tmp_path), *LOOSE_GATES)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["workers"] == 2 and summary["users"] == 2
    assert summary["audio"]["frames"] > 2 * 10 * 4 and summary["audio"]["latency_ms"]["p50"] > 0
    counted = COUNTED.findall((tmp_path / "locust.log").read_text())  # the forked workers' lines
    assert sorted(int(index) for index, _ in counted) == [0, 1]
    total: Counter[str] = Counter()
    for _, counts in counted:
        total.update(json.loads(counts))
    assert summary["audio"]["frames"] == total["device->client"]
    rows = {row["name"]: row["count"] for row in summary["requests"]}
    assert rows["JoinRoom"] == rows["LeaveRoom"] == total["JoinRoom"] == 2


async def test_sigterm_ends_a_headless_run_with_every_workers_counts(
    bridge: BridgeEnv, tmp_path: Path
) -> None:
    """Ctrl-C (SIGTERM) mid-run ends it as its end of time would: users leave, every worker's
    final report comes, the summary is printed, and no forked worker is left behind."""
    cfg = bridge.livekit.server.config
    proc = subprocess.Popen(
        [sys.executable, "-m", "lkbridge", "loadtest", "-u", "2", "-d", "10m", "--processes",
         "2", "--json", "--out", str(tmp_path), "--bridge", bridge.target,
         "--livekit-url", cfg.url, "--api-key", cfg.api_key, *LOOSE_GATES],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "LIVEKIT_API_SECRET": cfg.api_secret},
    )  # fmt: skip
    try:
        await every_user_joined(bridge, 2, proc)
        proc.terminate()
        out, err = await asyncio.to_thread(proc.communicate, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    summary = json.loads(out)
    assert summary["users"] == 2 and summary["duration_s"] < 600
    counted = COUNTED.findall((tmp_path / "locust.log").read_text())
    assert sorted(int(index) for index, _ in counted) == [0, 1]
    total: Counter[str] = Counter()
    for _, counts in counted:
        total.update(json.loads(counts))
    assert summary["audio"]["frames"] == total["device->client"] > 0
    rows = {row["name"]: row["count"] for row in summary["requests"]}
    assert rows["JoinRoom"] == rows["LeaveRoom"] == 2
    assert not processes_of(tmp_path), "no locust process outlives the run"


def processes_of(run_dir: Path) -> list[psutil.Process]:
    return [
        proc
        for proc in psutil.process_iter(["cmdline"])
        if any(str(run_dir) in arg for arg in proc.info["cmdline"] or [])
    ]


def one_line_error(result: subprocess.CompletedProcess[str], code: int, start: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: {start}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_unreachable_bridge_is_one_line_exit_2(tmp_path: Path) -> None:
    result = lkbridge(
        "loadtest", "--bridge", "127.0.0.1:1", "--livekit-url", "ws://127.0.0.1:1",
        "--api-key", "k", "--api-secret", "s", "--out", str(tmp_path), timeout=60,
    )  # fmt: skip
    one_line_error(result, 2, "cannot reach the bridge at 127.0.0.1:1: ")


async def test_wrong_keys_and_tokens_are_refused_with_exit_3(
    bridge_factory: BridgeFactory, tmp_path: Path
) -> None:
    bridge = await bridge_factory(auth_token="loadtest-token")
    cfg = bridge.livekit.server.config
    given = ["--bridge", bridge.target, "--livekit-url", cfg.url, "--out", str(tmp_path)]
    wrong_secret = await asyncio.to_thread(
        lkbridge, "loadtest", *given, "--auth-token", "loadtest-token",
        "--api-key", cfg.api_key, "--api-secret", "not-the-secret-" * 3, timeout=60,
    )  # fmt: skip
    one_line_error(wrong_secret, 3, f"the SFU at {cfg.url} refused API key 'devkey'")
    no_token = await asyncio.to_thread(
        lkbridge, "loadtest", *given, "--api-key", cfg.api_key, "--api-secret", cfg.api_secret,
        timeout=60,
    )  # fmt: skip
    one_line_error(no_token, 3, f"the bridge at {bridge.target} refused: UNAUTHENTICATED")
    no_sfu = await asyncio.to_thread(
        lkbridge, "loadtest", *given, "--auth-token", "loadtest-token",
        "--livekit-url", f"ws://127.0.0.1:{free_port()}", "--api-key", "k", "--api-secret", "s",
        timeout=60,
    )  # fmt: skip
    one_line_error(no_sfu, 2, "cannot reach the SFU at ws://127.0.0.1:")


def test_usage_errors_and_a_missing_locust_are_one_line() -> None:
    started = time.monotonic()
    one_line_error(lkbridge("loadtest", "-d", "soon"), 2, "'soon' is not a duration")
    one_line_error(lkbridge("loadtest", "--worker"), 2, "--worker needs --master-host")
    one_line_error(
        lkbridge("loadtest", "--bridge", "127.0.0.1:9"), 2, "--bridge needs --livekit-url"
    )
    one_line_error(lkbridge("loadtest", "--master", "--processes", "2"), 2, "--master waits")
    assert time.monotonic() - started < 60  # none of them started a stack
    no_locust = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.modules['locust'] = None; sys.argv = ['lkbridge', 'loadtest'];"
         "from lkbridge.cli.main import main; main()"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    one_line_error(no_locust, 5, "locust is not installed")
    helped = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.argv = ['lkbridge', 'loadtest', '--help']\n"
         "from lkbridge.cli.main import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
         "print('imported:', 'locust' in sys.modules or 'gevent' in sys.modules)"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert "--max-p95-ms" in helped.stdout and "imported: False" in helped.stdout, helped.stderr


def heard(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=5) as page:
        rows = json.load(page)["stats"]
    return any(row["name"] == "device->client" and row["num_requests"] > 0 for row in rows)


def test_web_serves_locusts_ui_on_loopback_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lkbridge", "loadtest", "-u", "1", "-d", "8s", "--web",
         "--web-port", str(port), "--json", "--out", str(tmp_path), *LOOSE_GATES],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline, status = time.monotonic() + 120, 0
        while time.monotonic() < deadline and status != 200 and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    status = page.status
            except OSError:
                time.sleep(0.5)
        assert status == 200
        while time.monotonic() < deadline and not heard(port):  # the UI's own figures
            time.sleep(0.5)
        with pytest.raises(OSError):  # loopback only
            urllib.request.urlopen(f"http://10.77.0.1:{port}/", timeout=2)
        proc.terminate()  # as Ctrl-C: the run ends, the summary is printed
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert f"locust web UI: http://127.0.0.1:{port}" in err
    assert json.loads(out)["audio"]["frames"] > 0

"""Installed, it works: the wheel, with its `load` and `audio` extras and the pins of
constraints.txt, in a fresh virtualenv, run from a folder outside the clone: `--version`,
`health` against the installed bridge, and `loadtest --users 1 --duration 5s` against a
running stack (the fixture's SFU and that bridge).

The suite runs inside the network namespace, which reaches no package index: the packages come
from a wheelhouse in the cache, filled once from the host's network (`pip download`, as
test_image_steps installs) and used with `--no-index` afterwards, so a rerun is offline and
takes well under a minute (no byte-compiling, no pip in the new venv).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from lkbridge.devstack import netns
from lkbridge.devstack.bridge import start_bridge
from lkbridge.devstack.netns import Netns
from lkbridge.devstack.state import cache_dir
from tests.conftest import LiveKitEnv

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "constraints.txt", "README.md", "lkbridge")
EXTRAS = "load,audio"
LOOSE_GATES = ["--max-fail-ratio", "0.5", "--max-p95-ms", "5000"]  # a loaded machine: figures


def host_network() -> list[str]:
    """The prefix that runs a command on the host's network (PyPI), from inside `lkb`."""
    host = Netns()
    inside = netns.inside(host.interface) and Path("/run/netns", f"{host.name}-host").exists()
    return ["ip", "netns", "exec", f"{host.name}-host"] if inside else []


def copy_sources(tmp_path: Path) -> Path:
    """What the package is built from, copied (a build in the clone would leave build/ there)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, src / name)
    return src


def new_venv(venv: Path) -> Path:
    """A fresh virtualenv without pip (this one's pip installs into it); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)  # fmt: skip
    return venv / "bin" / "python"


def build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the sources."""
    src = copy_sources(tmp_path)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(dist), str(src)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = dist.glob("lkbridge-*.whl")
    return wheel


def install(venv: Path, wheel: Path) -> None:
    """The wheel and its extras, pinned by constraints.txt, from the wheelhouse only."""
    pins = (ROOT / "constraints.txt").read_bytes()
    house = cache_dir() / "wheelhouse" / hashlib.sha256(pins).hexdigest()[:16]
    house.mkdir(parents=True, exist_ok=True)
    # this venv's pip installs into the new one (`--python`), which needs no pip of its own
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    want = [f"{wheel}[{EXTRAS}]", "-c", str(ROOT / "constraints.txt")]
    offline = [*pip, "install", "-q", "--no-compile", "--no-index", "--find-links", str(house),
               *want]  # fmt: skip
    done = subprocess.run(offline, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:  # a first run, or new pins: fill the wheelhouse once
        fetched = subprocess.run(
            [*host_network(), *pip, "download", "-q", "-d", str(house), *want],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert fetched.returncode == 0, fetched.stderr[-3000:]
        for stale in house.glob("lkbridge-*.whl"):
            stale.unlink()
        done = subprocess.run(offline, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_wheel_installed_in_a_fresh_venv_runs_outside_the_clone(
    livekit_server: LiveKitEnv, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert "lkbridge/loadtest/scenarios.py" in names and "lkbridge/devstack/stamp.py" in names
    assert not any(n.startswith(("loadtests/", "tests/", "bench/")) for n in names)
    requires = re.findall(r"^Requires-Dist: (\S+?)[<>=!~ ;]", metadata.decode(), re.M)
    runtime = re.findall(r"^Requires-Dist: ([^;\n]+)$", metadata.decode(), re.M)
    assert "locust" in requires and not any(r.startswith(("pydub", "locust")) for r in runtime)

    venv = tmp_path / "venv"
    python = new_venv(venv)
    install(venv, wheel)
    frozen = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "freeze"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    pins = {
        name.lower().replace("_", "-"): version
        for name, version in re.findall(r"^([\w.-]+)==(\S+)$",
                                        (ROOT / "constraints.txt").read_text(), re.M)
    }  # fmt: skip
    installed = dict(re.findall(r"^([\w.-]+)==(\S+)$", frozen, re.M))
    unpinned = {n: v for n, v in installed.items() if n.lower() != "lkbridge"
                and pins.get(n.lower().replace("_", "-")) != v}  # fmt: skip
    assert unpinned == {}, "every installed package at its constraints.txt pin"

    outside = tmp_path / "elsewhere"
    (outside / "lkbridge").mkdir(parents=True)  # a folder named like the package, as a clone's
    lkbridge = str(venv / "bin" / "lkbridge")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env |= {"LKBRIDGE_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([lkbridge, *args], capture_output=True, text=True, cwd=outside,
                              env=env, timeout=timeout)  # fmt: skip

    version = run("--version")
    assert (version.returncode, version.stdout.strip()) == (0, "0.1.0"), version.stderr
    with start_bridge("--host", "127.0.0.1", "--port", "0", command=[lkbridge],
                      cwd=str(outside), env=env) as bridge:  # fmt: skip
        health = run("health", "--bridge", bridge.target, "--timeout", "5")
        assert health.returncode == 0 and "SERVING" in health.stdout, health.stderr
        cfg = livekit_server.server.config
        out = tmp_path / "run"
        load = run(
            "loadtest", "--users", "1", "--duration", "5s", "--bridge", bridge.target,
            "--livekit-url", cfg.url, "--api-key", cfg.api_key, "--api-secret", cfg.api_secret,
            "--out", str(out), "--json", *LOOSE_GATES, timeout=180,
        )  # fmt: skip
        assert load.returncode == 0, load.stdout[-2000:] + load.stderr[-2000:]
        summary = json.loads(load.stdout)
        assert summary["audio"]["frames"] > 0 and summary["bridge"]["sessions_max"] == 1
        assert Path(summary["soak_page"]).is_file() and (out / "report.html").is_file()
        assert "Traceback" not in load.stderr


def test_setups_editable_install_prints_no_notice_about_the_packages_folder(
    tmp_path: Path,
) -> None:
    """scripts/setup.sh's `pip install -e` printed setuptools' notice that a folder named like
    the package may shadow it, in every first test run; setup.sh now filters that warning
    (lkbridge's own children run with `python -P`). The same install, with and without the
    filter setup.sh sets, into a fresh venv (build dependencies from the host's network)."""
    script = (ROOT / "scripts" / "setup.sh").read_text()
    setting = re.search(r'PYTHONWARNINGS="([^"]+)"', script)
    assert setting is not None and "pip install" in script[setting.end() : setting.end() + 200]
    src = copy_sources(tmp_path)
    notices = []
    for warnings in ("", setting.group(1)):
        python = new_venv(tmp_path / f"venv{len(notices)}")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
        done = subprocess.run(
            [*host_network(), sys.executable, "-m", "pip", "--python", str(python),
             "install", "-q", "--no-deps", "--no-compile", "-e", str(src)],
            capture_output=True, text=True, timeout=300, env=env | {"PYTHONWARNINGS": warnings},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        notices.append("may take precedence during imports" in done.stdout + done.stderr)
    assert notices == [True, False], "the notice shows without the filter, and not with it"

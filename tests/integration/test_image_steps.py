"""No container engine runs on these machines, so the image's build steps run here instead:
the build stage's COPY lines into a clean folder, a fresh venv, `pip install -c constraints.txt .`
(not editable, as in the image), then `lkbridge serve` from that venv answers the image's
HEALTHCHECK command and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from lkbridge.devstack import netns
from lkbridge.devstack.bridge import start_bridge
from lkbridge.devstack.netns import Netns

ROOT = Path(__file__).resolve().parents[2]


def build_stage_copies() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    build = re.split(r"^FROM ", text, flags=re.M)[1]
    sources: list[str] = []
    for line in re.findall(r"^COPY (?!--from)(.+)$", build, flags=re.M):
        sources.extend(line.split()[:-1])
    return sources


def test_image_install_steps_in_a_clean_venv(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    sources = build_stage_copies()
    assert {"pyproject.toml", "constraints.txt", "lkbridge"} <= set(sources)
    for name in sources:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, src / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # the suite runs inside the network namespace, which reaches no package index: install
    # from the host's one, which `python -m lkbridge.devstack.netns ensure` names lkb-host
    host_ns = Netns()
    host_net = (
        ["ip", "netns", "exec", f"{host_ns.name}-host"]
        if netns.inside(host_ns.interface) and Path("/run/netns", f"{host_ns.name}-host").exists()
        else []
    )
    install = subprocess.run(
        [*host_net, str(venv / "bin" / "pip"), "install", "-q", "-c", "constraints.txt", "."],
        cwd=src, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    lkbridge = str(venv / "bin" / "lkbridge")
    env = dict(os.environ, LKBRIDGE_LOG_FORMAT="json", PYTHONUNBUFFERED="1")
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:  # the installed console script, not this checkout's package
        serve = start_bridge("--host", "127.0.0.1", "--port", "0", command=[lkbridge],
                             stderr=stderr, env=env)  # fmt: skip
    with serve:
        probe = subprocess.run(
            [lkbridge, "health", "--standard", "--timeout", "3", "--bridge", serve.target],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert (probe.returncode, probe.stdout) == (0, "SERVING\n"), probe.stderr
        assert serve.stop() == 0
    assert '"msg": "stopped in' in log.read_text(), "JSON logs, clean stop"

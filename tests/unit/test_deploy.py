"""Deployment files checked by real parsers, offline: compose, Kubernetes schemas, Dockerfile."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from lkbridge.cli.reference import render_into

ROOT = Path(__file__).resolve().parents[2]
K8S = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_manifests_match_the_kubernetes_schemas(path: Path) -> None:
    for doc in documents(path):
        kubernetes_validate.validate(doc, "1.31", strict=True)


def bridge_containers() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    found = []
    for path in K8S:
        for doc in documents(path):
            if doc["kind"] != "Deployment":
                continue
            pod = doc["spec"]["template"]["spec"]
            for container in pod["containers"]:
                if "lkbridge" in container["image"]:
                    found.append((pod, container))
    return found


def test_grace_periods_fit_together() -> None:
    """The kubelet must wait longer than the bridge's own shutdown (tested in test_serving)."""
    containers = bridge_containers()
    assert len(containers) == 2
    for pod, container in containers:
        args = container["args"]
        grace = float(args[args.index("--grace-period") + 1])
        assert pod["terminationGracePeriodSeconds"] >= grace + 5
        assert container["resources"]["limits"]["memory"]
        probes = [container[k] for k in ("readinessProbe", "livenessProbe", "startupProbe")]
        for probe in probes:
            command = probe.get("exec", {}).get("command", [])
            assert "grpc" in probe or command[:3] == ["lkbridge", "health", "--standard"]


def test_probes_ask_the_health_port() -> None:
    """Probes on the main port fail while a client holds its connection or call bounds
    (issue 23, finding 5): every probe asks the loopback health port that the args open."""
    for _, container in bridge_containers():
        args = container["args"]
        target = f"127.0.0.1:{args[args.index('--health-port') + 1]}"
        assert "--health-host" not in args  # loopback: no other pod can fill its bounds
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            command = container[kind]["exec"]["command"]
            assert command[command.index("--bridge") + 1] == target, (kind, command)


def test_compose_file_parses() -> None:
    binary = shutil.which("docker-compose")
    assert binary, "scripts/setup.sh installs docker-compose (it parses without an engine)"
    result = subprocess.run(
        [binary, "-f", str(ROOT / "deploy" / "compose.yaml"), "config"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == {"livekit", "bridge", "device"}
    assert config["services"]["livekit"]["image"].endswith(":v1.13.5")
    assert "--health-port" in config["services"]["bridge"]["command"]
    device = config["services"]["device"]
    assert device["entrypoint"] == ["lkbridge", "device"]


def test_dockerfile_runs_as_non_root_with_a_real_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM ", text, flags=re.M)
    assert len(stages) == 2
    final = text.split("\nFROM ")[-1]
    assert re.search(r"^USER 10001$", final, flags=re.M)
    healthcheck = final[final.index("HEALTHCHECK") :].split("\n\n")[0].split("STOPSIGNAL")[0]
    assert "CMD lkbridge health --standard" in healthcheck and "pgrep" not in healthcheck
    health_port = re.search(r"LKBRIDGE_HEALTH_PORT=(\d+)", final)
    assert health_port, "the image opens the health port"
    assert f"LKBRIDGE_HEALTH_TARGET=127.0.0.1:{health_port[1]}" in final
    assert '--bridge "$LKBRIDGE_HEALTH_TARGET"' in healthcheck
    assert "gcc" not in final and "build-essential" not in final
    assert re.search(r'^ENTRYPOINT \["lkbridge", "serve"\]$', final, flags=re.M)


def test_operations_doc_reference_is_current() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    assert render_into(doc) == doc, (
        "run: python -m lkbridge.cli.reference --write docs/operations.md"
    )

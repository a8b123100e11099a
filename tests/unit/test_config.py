"""Settings that cannot work are refused with a message that says which and why."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from lkbridge.server.config import BridgeConfig
from lkbridge.server.eventloop import loop_factory
from lkbridge.server.front.workers import CONFIG_ENV, load_config, shard_of, worker_config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"workers": 0}, "workers must be between 1 and 64"),
        ({"workers": 65}, "workers must be between 1 and 64"),
        ({"loop": "trio"}, "loop must be one of auto, uvloop, asyncio"),
        ({"sdk_logs": "syslog"}, "sdk logs must be one of native, python"),
        ({"port": None}, "nothing to listen on: give a TCP port or a Unix socket"),
        ({"catch_up_ms": -1}, "catch-up must be between 0 and 1000 ms"),
        ({"max_sessions": 0}, "max sessions and max joins in flight must be at least 1"),
        ({"max_joins_in_flight": 0}, "max sessions and max joins in flight must be at least 1"),
        ({"track_quiet_ms": -1}, "track quiet spell must be 0 or 500-3600000 ms"),
        ({"track_quiet_ms": 100}, "track quiet spell must be 0 or 500-3600000 ms"),
    ],
)
def test_refused_settings(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as err:
        BridgeConfig(**changes)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_loop_factory_names() -> None:
    assert loop_factory("asyncio") is None
    assert loop_factory("uvloop") is not None  # a dependency: installed by setup
    with pytest.raises(ValueError, match="loop must be one of"):
        loop_factory("trio")


def test_workers_get_the_session_settings_and_nothing_public() -> None:
    front = BridgeConfig(
        host="0.0.0.0",
        port=9090,
        workers=4,
        auth_token="secret",
        idle_timeout_s=42.0,
        health_port=9091,
    )
    worker = worker_config(front, "/run/w0.sock")
    assert (worker.workers, worker.port, worker.socket) == (1, None, "/run/w0.sock")
    assert worker.auth_token is None and worker.tls is None and worker.metrics_port is None
    assert worker.health_port is None  # the front's answers; four workers cannot share it
    assert worker.idle_timeout_s == 42.0 and worker.socket_mode == 0o600


def test_the_health_address_is_loopback_unless_told() -> None:
    assert BridgeConfig().health_address is None
    assert BridgeConfig(health_port=9091).health_address == "127.0.0.1:9091"
    assert BridgeConfig(health_port=0, health_host="::1").health_address == "[::1]:0"
    with pytest.raises(ValueError, match="health port 70000 out of range"):
        BridgeConfig(health_port=70000)


def test_a_user_always_lands_on_the_same_worker() -> None:
    assert shard_of("alice", 4) == shard_of("alice", 4)
    assert {shard_of(f"user{i}", 4) for i in range(100)} == {0, 1, 2, 3}


def test_a_worker_reads_back_the_config_its_front_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    front = BridgeConfig(workers=2, playback_allow_hosts=("tts.example.com",), idle_timeout_s=7)
    config = worker_config(front, "/run/w/worker-0.sock")
    monkeypatch.setenv(CONFIG_ENV, json.dumps(dataclasses.asdict(config)))
    assert load_config() == config


def test_python_m_lkbridge_server_without_a_front_says_what_to_run() -> None:
    env = {k: v for k, v in os.environ.items() if k != CONFIG_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "lkbridge.server"], capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == f"error: {CONFIG_ENV} is not set (run a bridge with `lkbridge serve`)\n"

"""A real livekit-server process with a generated config.

Used by `lkbridge dev`, the pytest fixtures, bench/ and loadtests/ alike. The config is written as
JSON, which the server's strict YAML parser reads as YAML, so no YAML library is needed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from lkbridge.devstack.ports import free_port, free_udp_port
from lkbridge.devstack.state import cache_dir as cache_dir  # re-exported: bench, tests
from lkbridge.procs import die_with_parent

LIVEKIT_SERVER_VERSION = "v1.13.5"

# Environment variables the server reads on its own; a stray one would override our config.
_LEAKY_ENV = ("LIVEKIT_KEYS", "LIVEKIT_CONFIG", "NODE_IP", "UDP_PORT", "LIVEKIT_REDIS_HOST")


class LiveKitServerNotFound(FileNotFoundError):
    pass


def find_binary() -> Path:
    """The pinned livekit-server: $LKBRIDGE_LIVEKIT_SERVER, the setup cache, then PATH."""
    candidates = []
    if env := os.environ.get("LKBRIDGE_LIVEKIT_SERVER"):
        candidates.append(Path(env))
    candidates.append(cache_dir() / "bin" / f"livekit-server-{LIVEKIT_SERVER_VERSION}")
    if on_path := shutil.which("livekit-server"):
        candidates.append(Path(on_path))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    looked = ", ".join(str(c) for c in candidates)
    set_by = "" if os.environ.get("LKBRIDGE_LIVEKIT_SERVER") else "LKBRIDGE_LIVEKIT_SERVER unset, "
    raise LiveKitServerNotFound(
        f"livekit-server {LIVEKIT_SERVER_VERSION} not found ({set_by}looked in {looked} and on "
        f"PATH): run `lkbridge setup` (go install into the cache), or set "
        f"LKBRIDGE_LIVEKIT_SERVER to a livekit-server {LIVEKIT_SERVER_VERSION} binary"
    )


@dataclass(frozen=True)
class LiveKitConfig:
    """What the generated server config holds. Defaults fit the project's network namespace;
    the ports default to free ones, so two servers on one machine never share one."""

    port: int = field(default_factory=free_port)
    udp_port: int = field(default_factory=free_udp_port)
    bind_address: str = "127.0.0.1"
    node_ip: str = os.environ.get("LKBRIDGE_NODE_IP", "10.77.0.1")
    interface: str = os.environ.get("LKBRIDGE_RTC_INTERFACE", "lkb0")
    api_key: str = "devkey"
    # hex: a secret that starts with "-" reads as an option to argparse where one goes on argv
    api_secret: str = field(default_factory=lambda: secrets.token_hex(24))
    empty_timeout_s: int = 10
    departure_timeout_s: int = 1
    log_level: str = "info"

    @property
    def url(self) -> str:
        return f"ws://{self.bind_address}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.bind_address}:{self.port}"

    def to_server_config(self) -> dict[str, object]:
        return {
            "port": self.port,
            "bind_addresses": [self.bind_address],
            "keys": {self.api_key: self.api_secret},
            "rtc": {
                "udp_port": self.udp_port,
                "tcp_port": 0,
                "use_external_ip": False,
                "node_ip": self.node_ip,
                "interfaces": {"includes": [self.interface]},
                "stun_servers": [f"{self.node_ip}:3478"],
            },
            "room": {
                "empty_timeout": self.empty_timeout_s,
                "departure_timeout": self.departure_timeout_s,
            },
            "logging": {"level": self.log_level, "json": False},
        }


class LiveKitServer:
    """One livekit-server child process. Cheap to build; `start()` does the work."""

    def __init__(self, config: LiveKitConfig | None = None, workdir: Path | None = None) -> None:
        self.config = config or LiveKitConfig()
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="lkbridge-livekit-"))
        self.log_path = self.workdir / "livekit-server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        binary = find_binary()
        config_path = self.workdir / "livekit.yaml"
        config_path.write_text(json.dumps(self.config.to_server_config(), indent=2))
        env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                [*die_with_parent(), str(binary), "--config", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"livekit-server exited with {self._proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.config.http_url + "/", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"livekit-server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM twice (the first one waits for participants to leave), then SIGKILL."""
        proc = self._proc
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGTERM, timeout)):
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._proc = None

    def kill(self) -> None:
        """Die at once, as a crashed server would: for failure tests."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def log_tail(self, lines: int = 40, width: int = 300) -> str:
        """The last lines of the server log, each cut to `width` (SDP dumps run to pages)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(
            line if len(line) <= width else line[:width] + " ..."
            for line in text.splitlines()[-lines:]
        )

    def cleanup(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LiveKitServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

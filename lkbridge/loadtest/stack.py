"""The processes a load run needs beside locust, each started, checked and stopped here.

A run owns all of them: the SFU and the bridge on free ports, its own state in the run's output
directory (logs, the clip), nothing shared with a developer's `lkbridge dev` stack. Against a
given bridge and SFU only the devices (and, when asked, the clip server) are started. Every
child dies with this process (PR_SET_PDEATHSIG), so an interrupted run leaves no server behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from types import TracebackType

from livekit import api

from lkbridge.devstack import netns
from lkbridge.devstack.bridge import BridgeProcess, BridgeStartError, start_bridge
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.ports import free_port
from lkbridge.devstack.tonefile import make_tone_file
from lkbridge.loadtest.devices import SECRET_ENV
from lkbridge.procs import NotReady, die_with_parent, python_module, wait_ready

CLIP_SECONDS = 1.5
STOP_TIMEOUT_S = 15.0
START_TIMEOUT_S = 300.0  # the devices of many rooms connect one by one


class StackError(RuntimeError):
    """A part of the stack did not come up; the message is one line naming it and its log."""


class SfuUnreachable(StackError):
    pass


class SfuRefused(StackError):
    pass


def check_sfu(url: str, key: str, secret: str, timeout: float = 10.0) -> None:
    """Ask the SFU's room service to list rooms with the given keys before any device connects,
    so a wrong URL or key ends the run with one precise line instead of a device's stack trace."""
    http_url = url.replace("wss://", "https://", 1).replace("ws://", "http://", 1).rstrip("/")
    with warnings.catch_warnings():  # PyJWT on a short secret: the SFU's answer says more
        warnings.simplefilter("ignore")
        token = (
            api.AccessToken(key, secret)
            .with_identity("lkbridge-loadtest")
            .with_grants(api.VideoGrants(room_list=True))
            .to_jwt()
        )
    request = urllib.request.Request(
        f"{http_url}/twirp/livekit.RoomService/ListRooms", data=b"{}", method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return
    except urllib.error.HTTPError as exc:
        why = _twirp_message(exc)
        if exc.code in (401, 403):
            raise SfuRefused(
                f"the SFU at {url} refused API key {key!r} or its secret: {why}"
            ) from None
        raise SfuUnreachable(f"the SFU at {url} answered HTTP {exc.code}: {why}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SfuUnreachable(f"cannot reach the SFU at {url}: {reason}") from None


def _twirp_message(exc: urllib.error.HTTPError) -> str:
    with contextlib.suppress(ValueError, OSError):
        return str(json.loads(exc.read()).get("msg", exc.reason))
    return str(exc.reason)


class LoadStack:
    """Started piece by piece by `lkbridge loadtest`; `close()` (or `with`) stops what started."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.livekit: LiveKitServer | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._bridges: list[BridgeProcess] = []

    def start_sfu(self) -> LiveKitConfig:
        self.livekit = LiveKitServer(_sfu_config(), workdir=self.out / "livekit")
        self.livekit.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.livekit.start()
        except (OSError, RuntimeError, TimeoutError) as exc:
            first = str(exc).splitlines()[0]
            raise StackError(f"livekit-server did not start: {first}") from None
        return self.livekit.config

    def start_bridge(self) -> str:
        with (self.out / "bridge.log").open("ab") as log:
            try:
                bridge = start_bridge(
                    "--host", "127.0.0.1", "--port", "0", "--log-level", "warning",
                    prefix=die_with_parent(), stderr=log, start_new_session=True,
                )  # fmt: skip
            except BridgeStartError as exc:
                raise StackError(f"{exc} ({_last_line(self.out / 'bridge.log')})") from None
        self._bridges.append(bridge)
        return bridge.target

    def start_clip_server(self) -> str:
        clips = self.out / "clips"
        clips.mkdir(parents=True, exist_ok=True)
        make_tone_file(clips / "clip.mp3", 500, CLIP_SECONDS)
        port = free_port()
        self._spawn(
            "clip server",
            python_module("http.server", str(port), "--bind", "127.0.0.1", "-d", str(clips)),
            ready="Serving HTTP",
        )  # fmt: skip
        return f"http://127.0.0.1:{port}/clip.mp3"

    def start_devices(self, url: str, key: str, secret: str, rooms: int, prefix: str) -> None:
        self._spawn(
            "devices",
            python_module("lkbridge.loadtest.devices", "--url", url, "--key", key,
                          "--rooms", str(rooms), "--prefix", prefix),
            ready="devices ready",
            env={SECRET_ENV: secret},  # not on a command line: ps shows those, and argparse takes
        )  # fmt: skip                 # a secret that starts with "-" for an option

    def _spawn(
        self, name: str, argv: list[str], ready: str, env: dict[str, str] | None = None
    ) -> None:
        """Start a child and wait for its ready line on stdout; its stderr goes to a log file."""
        log_path = self.out / f"{name.replace(' ', '-')}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [*die_with_parent(), *argv], stdout=subprocess.PIPE, stderr=log,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                start_new_session=True,  # a terminal's Ctrl-C ends the run, then the stack
            )  # fmt: skip
        self._procs.append(proc)
        try:
            wait_ready(proc, ready, START_TIMEOUT_S)
        except NotReady as exc:
            raise StackError(f"{name} {exc}: {_last_line(log_path)}") from None

    def close(self) -> None:
        for bridge in self._bridges:
            bridge.stop(timeout=STOP_TIMEOUT_S)
        self._bridges.clear()
        for proc in reversed(self._procs):
            proc.terminate()
        for proc in reversed(self._procs):
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs.clear()
        if self.livekit is not None:
            self.livekit.stop()
            self.livekit = None

    def __enter__(self) -> LoadStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _sfu_config() -> LiveKitConfig:
    """Inside the project's namespace (or with LKBRIDGE_NODE_IP set) the defaults; on a laptop
    without root, the host's own interface, as `lkbridge dev` does."""
    if netns.inside() or os.environ.get("LKBRIDGE_NODE_IP"):
        return LiveKitConfig()
    found = netns.host_interface()
    if found is None:
        raise StackError(
            "no network namespace and no global IPv4 address: run as root (it enters the lkb "
            "namespace) or set LKBRIDGE_NODE_IP and LKBRIDGE_RTC_INTERFACE"
        )
    interface, address = found
    return LiveKitConfig(node_ip=address, interface=interface)


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()[:300]
    return f"(no output; see {path})"

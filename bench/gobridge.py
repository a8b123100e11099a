"""The Go bridge (MentraOS cloud-livekit-bridge) as a child of a bench, and a client it accepts.

One launcher for every bench that runs it beside ours (bench/field.py, bench/sessions.py
--go-bridge). The binary is built from its own repository, outside this one (see
docs/benchmarks.md, "Quality in the field"). It listens on a Unix socket only
(LIVEKIT_GRPC_SOCKET) and reads the SFU's address and keys from its environment. Two things of
ours it does not take, which a client must avoid:
- keepalive pings every 10 s: grpc-go's default enforcement (one ping in 5 min) ends such a
  connection with GOAWAY too_many_pings (`go_client`);
- waiting for the stream's headers before the first audio: grpc-go sends its headers with its
  first message, so `AudioStreamCall.open()` would wait forever (`open_stream`).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.client import AudioStreamCall, BridgeClient
from lkbridge.devstack.livekit import LiveKitConfig

START_TIMEOUT_S = 20.0


class GoBridgeError(RuntimeError):
    """The Go bridge did not start (its log says why)."""


def check_binary(path: Path) -> Path:
    """`path` if it is an executable file; else SystemExit with one line (a CLI error)."""
    if not path.is_file() or not os.access(path, os.X_OK):
        raise SystemExit(f"--go-bridge {path}: not an executable file")
    return path


def start_go_bridge(
    binary: Path, sock: Path, cfg: LiveKitConfig, prefix: list[str] | None = None
) -> subprocess.Popen[str]:
    """The Go bridge listening on `sock` (its log beside it, go-bridge.log), once the socket
    exists. `prefix`: e.g. a namespace's `ip netns exec` or `taskset`."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LIVEKIT_GRPC_SOCKET": str(sock),
        "LIVEKIT_URL": cfg.url,
        "LIVEKIT_API_KEY": cfg.api_key,
        "LIVEKIT_API_SECRET": cfg.api_secret,
        "LOG_LEVEL": "warn",
    }
    with (sock.parent / "go-bridge.log").open("w") as log:
        proc = subprocess.Popen(
            [*(prefix or []), str(binary)], env=env, stdout=log, stderr=log, text=True,
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise GoBridgeError(f"the Go bridge did not start: see {sock.parent / 'go-bridge.log'}")
        time.sleep(0.05)
    return proc


def stop_child(proc: subprocess.Popen[str], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL past `timeout`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def go_client(target: str) -> BridgeClient:
    """A client without keepalive pings (grpc-go would answer them with GOAWAY)."""
    import lkbridge.client as client_module

    plain = client_module.channel_options
    client_module.channel_options = lambda server_name=None: [
        option for option in plain(server_name) if not option[0].startswith("grpc.keepalive")
    ]
    try:
        return BridgeClient(target)
    finally:
        client_module.channel_options = plain


async def open_stream(stream: AudioStreamCall, go: bool) -> None:
    """Send the stream's first chunk; against ours, also wait for its acceptance."""
    if go:  # grpc-go sends its headers with its first message: no wait for them
        await stream._write(pb.AudioChunk(user_id=stream.user_id))
    else:
        await stream.open()

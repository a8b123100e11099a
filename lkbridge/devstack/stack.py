"""The whole local stack behind `lkbridge dev`: SFU, bridge, simulated device, one session.

The bridge listens on TCP inside the network namespace and on a Unix socket whose path is
reachable from the host's shell too (path-bound Unix sockets ignore network namespaces), so
`lkbridge health --bridge unix:...` works from anywhere on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from lkbridge.audio.pcm import Int16Array
from lkbridge.client import BridgeClient
from lkbridge.devstack import netns
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer, cache_dir
from lkbridge.devstack.speech import test_signal
from lkbridge.devstack.tokens import mint_token
from lkbridge.server.app import BridgeServer
from lkbridge.server.config import BridgeConfig

log = logging.getLogger(__name__)

DEV_ROOM = "dev-room"
DEV_USER = "dev-user"
DEVICE_IDENTITY = "device"


@dataclass(frozen=True)
class DevInfo:
    """What `lkbridge dev` prints and writes to dev.json for the other commands' --dev."""

    livekit_url: str
    api_key: str
    api_secret: str
    bridge_tcp: str
    bridge_socket: str
    room: str
    user_id: str
    device_identity: str
    signal: str


def dev_info_path() -> Path:
    return cache_dir() / "dev" / "dev.json"


def load_dev_info() -> DevInfo | None:
    try:
        return DevInfo(**json.loads(dev_info_path().read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def media_config(port: int) -> LiveKitConfig:
    """Inside the project's namespace (or with LKBRIDGE_NODE_IP set): the defaults. Elsewhere
    (a laptop without root): the host's own interface and address."""
    if netns.inside() or os.environ.get("LKBRIDGE_NODE_IP"):
        return LiveKitConfig(port=port, udp_port=port + 2)
    found = netns.host_interface()
    if found is None:
        raise RuntimeError(
            "no network namespace and no global IPv4 address: set LKBRIDGE_NODE_IP and "
            "LKBRIDGE_RTC_INTERFACE"
        )
    interface, address = found
    return LiveKitConfig(port=port, udp_port=port + 2, node_ip=address, interface=interface)


class DevStack:
    def __init__(self, bridge_port: int = 9090, signal: str = "speech") -> None:
        self._bridge_port = bridge_port
        self._signal_kind = signal
        port = int(os.environ.get("LKBRIDGE_DEV_LIVEKIT_PORT", "7880"))
        self.livekit = LiveKitServer(media_config(port))
        socket = cache_dir() / "dev" / "bridge.sock"
        socket.parent.mkdir(parents=True, exist_ok=True)
        self.bridge = BridgeServer(
            BridgeConfig(host="127.0.0.1", port=bridge_port, socket=str(socket), socket_mode=0o660)
        )
        self.device: DevicePeer | None = None
        self.info: DevInfo | None = None
        self._speaker: asyncio.Task[None] | None = None

    async def start(self) -> DevInfo:
        self.livekit.start()  # from the loop's thread: the SFU dies with it (pdeathsig)
        await self.bridge.start()
        cfg = self.livekit.config
        samples, description = test_signal(self._signal_kind)
        self.device = DevicePeer(
            cfg.url, mint_token(cfg.api_key, cfg.api_secret, DEV_ROOM, DEVICE_IDENTITY)
        )
        await self.device.connect()
        async with BridgeClient(f"127.0.0.1:{self.bridge.port}") as client:
            joined = await client.join(
                DEV_USER,
                token=mint_token(cfg.api_key, cfg.api_secret, DEV_ROOM, f"cloud-agent:{DEV_USER}"),
                livekit_url=cfg.url,
                room_name=DEV_ROOM,
                target_identity=DEVICE_IDENTITY,
            )
        if not joined.success:
            raise RuntimeError(f"the dev session could not join: {joined.error}")
        self._speaker = asyncio.get_running_loop().create_task(self._speak(samples))
        self.info = DevInfo(
            livekit_url=cfg.url,
            api_key=cfg.api_key,
            api_secret=cfg.api_secret,
            bridge_tcp=f"127.0.0.1:{self.bridge.port}",
            bridge_socket=f"unix:{self.bridge.config.socket}",
            room=DEV_ROOM,
            user_id=DEV_USER,
            device_identity=DEVICE_IDENTITY,
            signal=description,
        )
        path = dev_info_path()
        path.write_text(json.dumps(asdict(self.info), indent=2))
        os.chmod(path, 0o600)
        return self.info

    async def _speak(self, samples: Int16Array) -> None:
        """Loop the test signal into the room as the glasses do: 100 ms data packets."""
        assert self.device is not None
        while True:
            await self.device.send_packets(samples, chunk_ms=100)

    async def stop(self) -> None:
        if self._speaker is not None:
            self._speaker.cancel()
            with contextlib.suppress(BaseException):
                await self._speaker
        if self.device is not None:
            await self.device.aclose()
        await self.bridge.shutdown()
        await asyncio.to_thread(self.livekit.cleanup)
        with contextlib.suppress(FileNotFoundError):
            dev_info_path().unlink()

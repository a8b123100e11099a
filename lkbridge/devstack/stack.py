"""The whole local stack behind `lkbridge dev`: SFU, bridge, simulated device, one session.

The bridge listens on TCP inside the network namespace and on a Unix socket whose path is
reachable from the host's shell too (path-bound Unix sockets ignore network namespaces), so
`lkbridge health --bridge unix:...` works from anywhere on the machine. A file server beside the
bridge serves the state directory's `files/`, so `lkbridge play USER ./file` works from the host.
Each stack owns its state directory (state.py): a second one on the same directory refuses.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from lkbridge.client import BridgeClient
from lkbridge.devstack import netns
from lkbridge.devstack.files import FileServer
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.ports import free_port
from lkbridge.devstack.resident import ResidentDevice
from lkbridge.devstack.speech import test_signal
from lkbridge.devstack.state import (
    DevInfo as DevInfo,  # re-exported: the CLI and tests import it from here
)
from lkbridge.devstack.state import StateDir
from lkbridge.devstack.state import dev_info_path as dev_info_path
from lkbridge.devstack.state import load_dev_info as load_dev_info
from lkbridge.server.config import BridgeConfig
from lkbridge.server.grpc.server import BridgeServer
from lkbridge.tokens import mint_token

SAMPLE_NAME = "sample.wav"  # beside dev.json: the file the banner's `play` example plays
SAMPLE_HZ = 660  # not the device's 440: what a listener hears tells the two apart
DEV_ROOM = "dev-room"
DEV_USER = "dev-user"
DEVICE_IDENTITY = "device"
LIVEKIT_PORT = 7880
BRIDGE_PORT = 9090


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


def write_sample(path: Path) -> None:
    """A 2 s 660 Hz tone as a 16 kHz WAV, so the banner's `play` example has a file to play."""
    import wave

    from lkbridge.audio import ROOM_RATE
    from lkbridge.audio.pcm import to_bytes
    from lkbridge.audio.signal import tone

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(ROOM_RATE)
        wav.writeframes(to_bytes(tone(SAMPLE_HZ, 2.0, ROOM_RATE, amplitude=0.3)))


def port_or_free(port: int) -> int:
    """`port` when nobody listens on it (the address a user expects), else a free one."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


class DevStack:
    def __init__(
        self, bridge_port: int | None = None, signal: str = "speech", state: Path | None = None
    ) -> None:
        self._bridge_port = bridge_port
        self._signal_kind = signal
        self.state = StateDir(state)
        self.livekit: LiveKitServer | None = None
        self.bridge: BridgeServer | None = None
        self.files: FileServer | None = None
        self.device: ResidentDevice | None = None
        self.info: DevInfo | None = None
        self.sample: Path | None = None

    async def start(self) -> DevInfo:
        """Raises StackRunning, before starting anything, when the directory is taken."""
        self.state.acquire()
        self.sample = self.state.path / SAMPLE_NAME
        write_sample(self.sample)
        env_port = os.environ.get("LKBRIDGE_DEV_LIVEKIT_PORT")
        port = int(env_port) if env_port else port_or_free(LIVEKIT_PORT)
        self.livekit = LiveKitServer(media_config(port))
        self.livekit.start()  # from the loop's thread: the SFU dies with it (pdeathsig)
        bridge_port = self._bridge_port
        if bridge_port is None:
            bridge_port = port_or_free(BRIDGE_PORT)
        self.bridge = BridgeServer(
            BridgeConfig(
                host="127.0.0.1",
                port=bridge_port,
                socket=str(self.state.socket),
                socket_mode=0o660,
            )
        )
        await self.bridge.start()
        self.files = FileServer(self.state.files)
        self.files.start()
        cfg = self.livekit.config
        samples, description = test_signal(self._signal_kind)
        self.device = ResidentDevice(
            cfg.url, cfg.api_key, cfg.api_secret, DEV_ROOM, DEVICE_IDENTITY, samples, self._say
        )
        await self.device.start()
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
        self.info = DevInfo(
            livekit_url=cfg.url,
            api_key=cfg.api_key,
            api_secret=cfg.api_secret,
            bridge_tcp=f"127.0.0.1:{self.bridge.port}",
            bridge_socket=f"unix:{self.state.socket}",
            room=DEV_ROOM,
            user_id=DEV_USER,
            device_identity=DEVICE_IDENTITY,
            signal=description,
            pid=os.getpid(),
            files_dir=str(self.state.files),
            files_url=self.files.base_url,
        )
        self.state.write_info(self.info)
        return self.info

    @staticmethod
    def _say(text: str) -> None:
        """A line on the stack's terminal, where its user looks (the banner's pane)."""
        print(f"lkbridge dev: {text}", file=sys.stderr, flush=True)

    async def stop(self) -> None:
        """Whatever `start()` got to, stopped in reverse; safe after a failed start."""
        if self.device is not None:
            await self.device.aclose()
        if self.files is not None:
            self.files.close()
        if self.bridge is not None:
            await self.bridge.shutdown()
        if self.livekit is not None:
            await asyncio.to_thread(self.livekit.cleanup)
        self.state.release()

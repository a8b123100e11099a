"""Fixtures shared by every test: a real livekit-server, tokens and device peers.

Integration tests must run inside the project's network namespace (scripts/test.sh does that).
Outside it they fail loudly rather than skip: a green run must mean the real SFU was exercised.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest

from lkbridge.devstack import netns
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.tokens import mint_token


@dataclass
class LiveKitEnv:
    """A running SFU and what a test needs to talk to it."""

    server: LiveKitServer

    @property
    def url(self) -> str:
        return self.server.config.url

    def token(self, room: str, identity: str) -> str:
        cfg = self.server.config
        return mint_token(cfg.api_key, cfg.api_secret, room, identity)


def require_namespace() -> None:
    iface = LiveKitConfig().interface
    if not netns.inside(iface):
        pytest.fail(
            f"interface {iface} not found: run the suite with `bash scripts/test.sh` "
            "(it enters the "
            "network namespace), or set LKBRIDGE_NODE_IP/LKBRIDGE_RTC_INTERFACE to a real "
            "interface of this host",
            pytrace=False,
        )


_servers: list[LiveKitServer] = []


@pytest.fixture(scope="session")
def livekit_server() -> Iterator[LiveKitEnv]:
    require_namespace()
    server = LiveKitServer(LiveKitConfig())
    server.start()
    _servers.append(server)
    try:
        yield LiveKitEnv(server)
    finally:
        server.cleanup()
        _servers.remove(server)


@pytest.fixture
def room_name() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


DeviceFactory = Callable[..., Awaitable[DevicePeer]]


@pytest.fixture
async def device_factory(livekit_server: LiveKitEnv) -> AsyncIterator[DeviceFactory]:
    """Connects device peers; every one is closed at teardown."""
    peers: list[DevicePeer] = []

    async def connect(room: str, identity: str = "device") -> DevicePeer:
        peer = DevicePeer(livekit_server.url, livekit_server.token(room, identity))
        peers.append(peer)
        await peer.connect()
        return peer

    yield connect
    for peer in peers:
        with contextlib.suppress(Exception):
            await peer.aclose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the SFU's log tail to a failed test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _servers:
        for server in _servers:
            report.sections.append((f"livekit-server log ({server.log_path})", server.log_tail()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path.parent):
            item.add_marker(pytest.mark.integration)


os.environ.setdefault("LKBRIDGE_TEST", "1")
# The suite never sees a developer's running dev stack or profile: its own state dir, no profile.
_isolated = tempfile.mkdtemp(prefix="lkb-tests-")
atexit.register(shutil.rmtree, _isolated, True)
os.environ["LKBRIDGE_DEV_DIR"] = os.path.join(_isolated, "dev")
os.environ["LKBRIDGE_CONFIG"] = os.path.join(_isolated, "empty-config.toml")
open(os.environ["LKBRIDGE_CONFIG"], "w").close()  # a named profile must exist: an empty one


# -- the bridge ------------------------------------------------------------------------------------

from lkbridge.client import BridgeClient  # noqa: E402
from lkbridge.server.config import BridgeConfig  # noqa: E402
from lkbridge.server.grpc.server import BridgeServer  # noqa: E402


@dataclass
class BridgeEnv:
    """A running in-process bridge, a client connected to it, and the SFU behind it."""

    server: BridgeServer
    client: BridgeClient
    livekit: LiveKitEnv

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    async def join(self, user_id: str, room: str, target_identity: str = "device") -> None:
        response = await self.client.join(
            user_id,
            token=self.livekit.token(room, f"cloud-agent:{user_id}"),
            livekit_url=self.livekit.url,
            room_name=room,
            target_identity=target_identity,
        )
        assert response.success, response.error


BridgeFactory = Callable[..., Awaitable[BridgeEnv]]


@pytest.fixture
async def bridge_factory(livekit_server: LiveKitEnv) -> AsyncIterator[BridgeFactory]:
    envs: list[BridgeEnv] = []

    async def start(**overrides: object) -> BridgeEnv:
        options: dict[str, object] = {"host": "127.0.0.1", "port": 0, "first_audio_wait_s": 2.0}
        options.update(overrides)
        server = BridgeServer(BridgeConfig(**options))  # type: ignore[arg-type]
        await server.start()
        client = BridgeClient(f"127.0.0.1:{server.port}", auth_token=server.config.auth_token)
        env = BridgeEnv(server, client, livekit_server)
        envs.append(env)
        return env

    yield start
    for env in envs:
        await env.client.aclose()
        await env.server.shutdown()


@pytest.fixture
async def bridge(bridge_factory: BridgeFactory) -> BridgeEnv:
    return await bridge_factory()

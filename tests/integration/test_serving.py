"""How the bridge serves: the real `lkbridge serve` process, SIGTERM, Unix sockets, TLS and mTLS."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lkbridge.audio.pcm import to_bytes
from lkbridge.audio.signal import tone
from lkbridge.client import BridgeClient, ClientTls
from lkbridge.devstack.bridge import BridgeProcess
from lkbridge.errors import ClientError
from lkbridge.server.config import TlsFiles
from tests.conftest import BridgeFactory, DeviceFactory, LiveKitEnv
from tests.helpers import wait_for, wait_until
from tests.support.serving import LKBRIDGE, serve_process, start_serve

__all__ = ["serve_process"]  # the fixture, imported for this module


def manifest_grace_period() -> float:
    """The --grace-period the Kubernetes manifests give the bridge: what this test holds to."""
    import yaml

    path = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "standalone.yaml"
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc["kind"] == "Deployment":
            args = doc["spec"]["template"]["spec"]["containers"][0]["args"]
            return float(args[args.index("--grace-period") + 1])
    raise AssertionError("no Deployment in standalone.yaml")


async def test_sigterm_with_live_sessions(
    serve_process: list[BridgeProcess], livekit_server: LiveKitEnv, device_factory: DeviceFactory
) -> None:
    grace = manifest_grace_period()
    served = start_serve("--port", "0", "--grace-period", str(grace))
    serve_process.append(served)
    devices = []
    streams = []
    async with BridgeClient(served.target) as client:
        for i in range(3):
            room = f"sigterm-{i}-{os.getpid()}"
            devices.append(await device_factory(room, "device"))
            token = livekit_server.token(room, f"cloud-agent:user{i}")
            joined = await client.join(f"user{i}", token=token, livekit_url=livekit_server.url)
            assert joined.success, joined.error
            stream = client.stream(f"user{i}")
            await stream.open()
            streams.append(stream)
        for device in devices:
            await wait_until(lambda d=device: len(d.room.remote_participants) == 1, what="join")
        assert (await client.health()).active_streams == 3

        async with grpc.aio.insecure_channel(served.target) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            started = time.monotonic()
            served.proc.send_signal(signal.SIGTERM)
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING

        for stream in streams:
            with pytest.raises(ClientError) as err:
                while await stream.receive() is not None:
                    pass
            assert err.value.code == "UNAVAILABLE"
            assert "bridge shutting down" in err.value.details
        code = await asyncio.to_thread(served.proc.wait, 10)
        elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed < grace, f"exit took {elapsed:.1f} s, the manifests' grace is {grace} s"
    await wait_until(
        lambda: not any(d.room.remote_participants for d in devices), 5, "every room to be left"
    )


async def test_a_streaming_session_costs_three_tasks(
    serve_process: list[BridgeProcess], livekit_server: LiveKitEnv, device_factory: DeviceFactory
) -> None:
    """grpc.aio's two per call plus the SDK's room task: the bridge parks no task of its own
    (its reader is the handler, its writer runs only while audio waits)."""
    served = start_serve("--port", "0")
    serve_process.append(served)
    sessions = 3
    async with BridgeClient(served.target) as client:

        async def tasks() -> int:
            return int((await client.health()).metadata["tasks"])

        baseline = await tasks()
        assert (await client.health()).metadata["loop"] == "uvloop"  # the default, measured
        streams = []
        devices = []
        for i in range(sessions):
            room = f"tasks-{i}-{os.getpid()}"
            devices.append(await device_factory(room, "device"))
            token = livekit_server.token(room, f"cloud-agent:t{i}")
            joined = await client.join(
                f"t{i}", token=token, livekit_url=livekit_server.url, target_identity="device"
            )
            assert joined.success, joined.error
            stream = client.stream(f"t{i}")
            await stream.open()
            streams.append(stream)
        for device, stream in zip(devices, streams, strict=True):
            await device.send_packets(tone(440, 0.3), chunk_ms=100)
            await stream.send(to_bytes(tone(440, 0.3)))
            assert await stream.receive(timeout=5) is not None  # audio flows both ways
        loaded = await tasks()
        assert loaded - baseline <= 3 * sessions, f"{loaded - baseline} tasks for {sessions}"
        for stream in streams:
            stream.cancel()

        async def back_to_baseline() -> bool:
            return await tasks() <= baseline

        # cancelled streams close their sessions: back to the baseline
        await wait_for(back_to_baseline, 5, f"tasks back to {baseline} (loaded: {loaded})")


async def test_serve_on_a_unix_socket_only(
    serve_process: list[BridgeProcess], tmp_path: Path
) -> None:
    path = tmp_path / "bridge.sock"
    served = start_serve("--socket", str(path), "--no-tcp")
    serve_process.append(served)
    assert served.target == f"unix:{path}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    async with BridgeClient(served.target) as client:
        assert (await client.health()).status == 1
        assert await client.standard_health() == "SERVING"
    served.proc.send_signal(signal.SIGINT)
    assert await asyncio.to_thread(served.proc.wait, 10) == 0
    assert not path.exists(), "the socket file is removed on exit"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--log-format", "xml"], "must be one of text, json"),
        (["--sdk-logs", "syslog"], "sdk logs must be one of native, python"),
    ],
)
def test_serve_rejects_bad_flags(flags: list[str], message: str) -> None:
    result = subprocess.run(
        [*LKBRIDGE, "serve", *flags], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert message in result.stderr


def make_certs(tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    (tmp / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            f"{name}.pem",
        )
    return {n: tmp / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


async def test_tls_and_mutual_tls(bridge_factory: BridgeFactory, tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    tls = TlsFiles(certs["server.pem"], certs["server.key"])
    bridge = await bridge_factory(tls=tls)
    async with BridgeClient(bridge.target, tls=ClientTls(ca=certs["ca.pem"])) as client:
        assert (await client.health()).status == 1
    async with BridgeClient(bridge.target, timeout=3) as plain:
        with pytest.raises(ClientError) as err:
            await plain.health()
        assert err.value.code == "UNAVAILABLE"

    mtls = TlsFiles(certs["server.pem"], certs["server.key"], certs["ca.pem"])
    strict = await bridge_factory(tls=mtls)
    with_cert = ClientTls(ca=certs["ca.pem"], cert=certs["client.pem"], key=certs["client.key"])
    async with BridgeClient(strict.target, tls=with_cert) as client:
        assert (await client.health()).status == 1
    async with BridgeClient(strict.target, tls=ClientTls(ca=certs["ca.pem"]), timeout=3) as anon:
        with pytest.raises(ClientError) as err:
            await anon.health()
        assert err.value.code == "UNAVAILABLE"


async def test_loop_choice(serve_process: list[BridgeProcess]) -> None:
    served = start_serve("--port", "0", "--loop", "asyncio")
    serve_process.append(served)
    async with BridgeClient(served.target) as client:
        assert (await client.health()).metadata["loop"] == "asyncio"
    result = subprocess.run(
        [*LKBRIDGE, "serve", "--port", "0", "--loop", "trio"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "loop must be one of auto, uvloop, asyncio" in result.stderr

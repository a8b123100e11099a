"""`lkbridge serve --workers 2`: the front relays everything to the user's worker, unchanged."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import urllib.request
from pathlib import Path

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.audio.pcm import to_bytes, to_int16
from lkbridge.audio.signal import dominant_frequency, loud_part, tone
from lkbridge.cli.fileserver import OneFileServer
from lkbridge.client import BridgeClient
from lkbridge.devstack.bridge import BridgeProcess
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.tonefile import make_tone_file
from lkbridge.errors import ClientError
from lkbridge.server.front.workers import shard_of
from tests.conftest import DeviceFactory, LiveKitEnv
from tests.helpers import wait_for, wait_until
from tests.support.serving import serve_process, start_serve

__all__ = ["serve_process"]  # the fixture, imported for this module


async def join(
    client: BridgeClient, livekit: LiveKitEnv, devices: DeviceFactory, user: str
) -> DevicePeer:
    room = f"front-{user}-{os.getpid()}"
    device = await devices(room, "device")
    token = livekit.token(room, f"cloud-agent:{user}")
    joined = await client.join(user, token=token, livekit_url=livekit.url, target_identity="device")
    assert joined.success, joined.error
    return device


async def test_front_relays_sessions_audio_playback_and_status(
    serve_process: list[BridgeProcess],
    livekit_server: LiveKitEnv,
    device_factory: DeviceFactory,
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a free port for the metrics endpoint
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    served = start_serve("--port", "0", "--workers", "2", "--metrics-port", str(metrics_port))
    serve_process.append(served)
    workers = psutil.Process(served.proc.pid).children()
    assert len(workers) == 2

    def sdk_loaded(proc: psutil.Process) -> bool:
        return any("livekit_ffi" in m.path for m in proc.memory_maps())

    async with BridgeClient(served.target) as client:
        health = await client.health()
        assert health.status == pb.HealthCheckResponse.SERVING
        assert (health.metadata["workers"], health.metadata["workers_up"]) == ("2", "2")
        users = [f"fu{i}" for i in range(4)]
        devices = [await join(client, livekit_server, device_factory, u) for u in users]
        assert (await client.health()).active_sessions == 4
        assert sorted(s.user_id for s in await client.list_sessions()) == users
        # rooms live in the workers; the front never starts the SDK's native side, and a
        # worker starts it with its first room (these four users all land on one worker)
        assert not sdk_loaded(psutil.Process(served.proc.pid))
        hosting = len({shard_of(user, len(workers)) for user in users})
        assert sum(sdk_loaded(worker) for worker in workers) == hosting
        metrics = await asyncio.to_thread(
            lambda: (
                urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
                .read()
                .decode()
            )
        )
        assert "\nlkbridge_sessions 4\n" in metrics  # the workers' sessions, added up
        async for snapshot in client.watch_stats(interval_ms=200):  # what `lkbridge tui` reads
            assert snapshot.totals.sessions == 4
            assert sorted(s.user_id for s in snapshot.sessions) == users
            assert snapshot.process.tasks >= 4 * 1 and snapshot.process.rss_mb > 100
            break

        # audio both ways through the front, judged by content
        device = devices[0]
        async with client.stream("fu0") as stream:
            sent = await device.send_packets(tone(440, 0.5), chunk_ms=100)
            received = b""
            while len(received) < sum(len(p) - 1 for _, p in sent):
                chunk = await stream.receive(timeout=5)
                assert chunk is not None
                received += chunk.pcm_data
            assert abs(dominant_frequency(to_int16(received), 16000) - 440) < 10
            await stream.send(to_bytes(tone(660, 1.0)))
            recording = await device.wait_for_track("speaker")
            await wait_until(lambda: len(recording.samples()) > 16000, 10, "the tone")
            heard = loud_part(recording.samples(), 16000)
            assert abs(dominant_frequency(heard, 16000) - 660) < 10

        # playback events relayed in order
        clip = make_tone_file(tmp_path / "clip.wav", 880, 0.8)
        with OneFileServer(clip) as files:
            events = [e.type async for e in client.play("fu1", files.url, track_id=1)]
        assert events[0] == pb.PlayAudioEvent.STARTED
        assert events[-1] == pb.PlayAudioEvent.COMPLETED

        status = await client.status("fu2")
        assert status.connected and status.participant_count == 2
        assert (await client.leave("fu3")).success
        assert not (await client.status("fu3")).connected


async def test_front_relays_errors_word_for_word(serve_process: list[BridgeProcess]) -> None:
    served = start_serve("--port", "0", "--workers", "2")
    serve_process.append(served)
    async with BridgeClient(served.target) as client:
        with pytest.raises(ClientError) as err:
            await client.stream("nobody").open()
        assert err.value.code == "NOT_FOUND"
        assert err.value.details == "session not found for user 'nobody'"  # the worker's words
        with pytest.raises(ClientError) as err:
            await client.join("u", token="", livekit_url="ws://x")
        assert err.value.code == "INVALID_ARGUMENT"
        with pytest.raises(ClientError) as err:
            async for _ in client.play("u", "ftp://host/a.mp3"):
                pass
        assert err.value.code == "INVALID_ARGUMENT"
        assert (await client.stop("u")).error == "session not found"


async def watch_standard_health(target: str, seen: list[str]) -> None:
    """grpc.health.v1 Watch on the whole server (""), every status it sends, by name."""
    async with grpc.aio.insecure_channel(target) as channel:
        call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        async for reply in call:
            seen.append(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


async def test_a_dead_worker_is_started_again_and_its_users_rejoin(
    serve_process: list[BridgeProcess], livekit_server: LiveKitEnv, device_factory: DeviceFactory
) -> None:
    served = start_serve("--port", "0", "--workers", "2")
    serve_process.append(served)
    front = psutil.Process(served.proc.pid)
    health: list[str] = []
    watcher = asyncio.create_task(watch_standard_health(served.target, health))
    async with BridgeClient(served.target) as client:
        await join(client, livekit_server, device_factory, "phoenix")
        await wait_until(lambda: health == ["SERVING"], 5, "the standard health to say SERVING")
        for worker in front.children():
            worker.send_signal(signal.SIGKILL)
        await wait_until(
            lambda: (
                len(front.children()) == 2
                and all(w.status() != psutil.STATUS_ZOMBIE for w in front.children())
            ),
            10,
            "workers to be started again",
        )

        async def healthy() -> bool:
            return (await client.health()).metadata["workers_up"] == "2"

        await wait_for(healthy, 15, "the front to report both workers up again")
        assert not (await client.status("phoenix")).connected  # the cloud's cue to rejoin
        await join(client, livekit_server, device_factory, "phoenix-again")
        assert (await client.status("phoenix-again")).connected
    # no worker up: the front is out of a load balancer's rotation until one is back
    await wait_until(lambda: health[-1:] == ["SERVING"], 5, "the standard health to recover")
    watcher.cancel()
    assert health == ["SERVING", "NOT_SERVING", "SERVING"]


async def test_sigterm_ends_streams_stops_workers_and_exits(
    serve_process: list[BridgeProcess], livekit_server: LiveKitEnv, device_factory: DeviceFactory
) -> None:
    served = start_serve("--port", "0", "--workers", "2", "--grace-period", "5")
    serve_process.append(served)
    workers = psutil.Process(served.proc.pid).children()
    async with BridgeClient(served.target) as client:
        streams = []
        for user in ("t1", "t2", "t3"):
            await join(client, livekit_server, device_factory, user)
            stream = client.stream(user)
            await stream.open()
            streams.append(stream)
        assert (await client.health()).active_streams == 3
        served.proc.send_signal(signal.SIGTERM)
        for stream in streams:
            with pytest.raises(ClientError) as err:
                while await stream.receive(timeout=10) is not None:
                    pass
            assert err.value.code == "UNAVAILABLE"
    assert await asyncio.to_thread(served.proc.wait, 10) == 0
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


async def test_a_cancel_through_the_front_closes_the_session(
    serve_process: list[BridgeProcess], livekit_server: LiveKitEnv, device_factory: DeviceFactory
) -> None:
    served = start_serve("--port", "0", "--workers", "2")
    serve_process.append(served)
    async with BridgeClient(served.target) as client:
        device = await join(client, livekit_server, device_factory, "quitter")
        stream = client.stream("quitter")
        await stream.open()
        await device.send_packets(tone(440, 0.3), chunk_ms=100, realtime=False)
        assert await stream.receive(timeout=5) is not None
        stream.cancel()  # not a clean end: the worker must close the session, not keep it

        async def closed() -> bool:
            return (await client.health()).active_sessions == 0

        await wait_for(closed, 5, "the worker to close the cancelled stream's session")
        assert not (await client.status("quitter")).connected

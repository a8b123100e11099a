"""Sessions over time: rejoin, cancel, a dying SFU, and what standard tools see."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from lkbridge import __version__
from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc
from lkbridge.audio.signal import tone
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer, cache_dir
from lkbridge.devstack.tokens import mint_token
from lkbridge.errors import ClientError
from lkbridge.server.session.binding import StreamEnd
from lkbridge.wire import STREAM_ACCEPTED
from tests.conftest import BridgeEnv, BridgeFactory, DeviceFactory, LiveKitEnv
from tests.helpers import steady, wait_for, wait_until


async def task_count(bridge: BridgeEnv) -> int:
    return int((await bridge.client.health()).metadata["tasks"])


async def tasks_back_to(bridge: BridgeEnv, baseline: int, what: str) -> None:
    """Until the bridge runs no more tasks than `baseline` (the closing ones have ended)."""

    async def back() -> bool:
        return await task_count(bridge) <= baseline

    await wait_for(back, 5, f"{what}: the task count back to {baseline}")


async def stream_open(bridge: BridgeEnv, user: str) -> None:
    """Until the bridge holds `user`'s StreamAudio call (the client's open reached it)."""

    async def opened() -> bool:
        return any(s.stream_open for s in await bridge.client.list_sessions() if s.user_id == user)

    await wait_for(opened, 5, f"{user}'s stream to be open at the bridge")


async def test_rejoin_replaces_the_old_session(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("hank", room_name)
    first = bridge.server.registry.get("hank")
    assert first is not None
    old_stream = bridge.client.stream("hank")
    await old_stream.open()
    await device.send_packets(tone(440, 0.2), realtime=False)
    assert await old_stream.receive() is not None
    baseline = await steady(lambda: task_count(bridge), what="the streaming session's tasks")

    for _ in range(3):
        await bridge.join("hank", room_name)
    second = bridge.server.registry.get("hank")
    assert second is not None and second is not first
    assert first.state.value == "closed" and not first.room.isconnected()
    with pytest.raises(ClientError) as err:
        while await old_stream.receive() is not None:
            pass
    assert err.value.code == "UNAVAILABLE"
    assert "replaced by a new JoinRoom" in err.value.details
    # the SFU sees one bridge participant: the newest
    await wait_until(
        lambda: (
            [p.sid for p in device.room.remote_participants.values()] == [second.participant_id]
        ),
        what="old participant to leave the SFU room",
    )
    await tasks_back_to(bridge, baseline, "rejoins must not leave tasks behind")
    assert len(bridge.server.registry) == 1


async def _bound_stream(
    channel: grpc.aio.Channel, user_id: str
) -> grpc.aio.StreamStreamCall[pb.AudioChunk, pb.AudioChunk]:
    """A raw StreamAudio call, bound to the user's session once the bridge accepted it."""
    call = pb_grpc.LiveKitBridgeStub(channel).StreamAudio()
    await call.write(pb.AudioChunk(user_id=user_id))
    headers = tuple(await call.initial_metadata())  # sent once the stream is accepted
    assert STREAM_ACCEPTED in headers, headers
    return call


async def test_a_replaced_session_says_so_in_trailing_metadata(
    bridge: BridgeEnv, room_name: str
) -> None:
    """A client reads `lkbridge-end-cause: replaced`, not the prose; the code and text stay."""
    await bridge.join("hugo", room_name)
    async with grpc.aio.insecure_channel(bridge.target) as channel:
        replaced = await _bound_stream(channel, "hugo")
        await bridge.join("hugo", room_name)
        assert await replaced.code() == grpc.StatusCode.UNAVAILABLE
        assert await replaced.details() == "session closed: replaced by a new JoinRoom"
        assert tuple(await replaced.trailing_metadata()) == (("lkbridge-end-cause", "replaced"),)

        superseded = await _bound_stream(channel, "hugo")
        newer = await _bound_stream(channel, "hugo")
        assert await superseded.code() == grpc.StatusCode.ABORTED  # its own code, no cause
        assert tuple(await superseded.trailing_metadata()) == ()

        await bridge.client.leave("hugo", "done")
        assert await newer.code() == grpc.StatusCode.UNAVAILABLE
        assert await newer.details() == "session closed: done"
        assert tuple(await newer.trailing_metadata()) == ()


async def test_a_stream_that_comes_as_its_session_is_replaced_ends_as_replaced(
    bridge: BridgeEnv, room_name: str
) -> None:
    """StreamAudio finds the session, then a JoinRoom closes it before the call is bound (one
    await apart; a client on the same channel as the JoinRoom hits it): the call ends as the
    bound stream would have, not UNKNOWN "Unexpected NotConnected"."""
    await bridge.join("ines", room_name)
    session = bridge.server.registry.get("ines")
    assert session is not None
    # What the replacing JoinRoom does first; the registry still hands out the closed session,
    # as it did to a StreamAudio that looked it up a moment earlier.
    await session.close("replaced by a new JoinRoom", StreamEnd.REPLACED)
    async with grpc.aio.insecure_channel(bridge.target) as channel:
        call = pb_grpc.LiveKitBridgeStub(channel).StreamAudio()
        await call.write(pb.AudioChunk(user_id="ines"))
        assert await call.code() == grpc.StatusCode.UNAVAILABLE
        assert await call.details() == "session closed: replaced by a new JoinRoom"
        assert tuple(await call.trailing_metadata()) == (("lkbridge-end-cause", "replaced"),)
    # grpc.aio's abort sends the status, then raises: the handler counts the stream out after
    # the client may have read the status (failed once in 4 runs here when read at once)
    await wait_until(lambda: bridge.server.stats.active_streams == 0, 10, "the stream counted out")


async def test_client_cancel_closes_the_session(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    baseline = await task_count(bridge)
    await bridge.join("ivy", room_name)
    stream = bridge.client.stream("ivy")
    await stream.open()
    await stream.send(b"\0\0" * 1600)
    await device.send_packets(tone(440, 0.2), realtime=False)
    assert await stream.receive() is not None
    assert (await bridge.client.health()).active_streams == 1
    stream.cancel()
    await wait_until(lambda: bridge.server.registry.get("ivy") is None, what="session close")
    await wait_until(lambda: not device.room.remote_participants, what="bridge to leave the room")
    health = await bridge.client.health()
    assert (health.active_sessions, health.active_streams) == (0, 0)
    await tasks_back_to(bridge, baseline, "a cancelled stream's session closed")


async def test_clean_eof_keeps_the_session_until_idle_timeout(
    bridge_factory: BridgeFactory, room_name: str
) -> None:
    bridge = await bridge_factory(idle_timeout_s=1.5)
    await bridge.join("jay", room_name)
    async with bridge.client.stream("jay") as stream:
        await stream.done_writing()
        assert await stream.receive() is None
        assert await stream.status() == ("OK", "")
    assert (await bridge.client.status("jay")).connected
    await wait_until(lambda: bridge.server.registry.get("jay") is None, 5, "idle timeout")
    assert not (await bridge.client.status("jay")).connected


async def test_idle_is_what_session_busy_says(
    bridge_factory: BridgeFactory, room_name: str
) -> None:
    """The definition in Session.busy, through the server: StopAudio restarts the idle period,
    GetStatus and HealthCheck only look, a stream holds it off. Read on the timer's deadline, not
    on the clock, so a busy machine cannot make it flaky."""
    bridge = await bridge_factory(idle_timeout_s=600.0)
    await bridge.join("ida", room_name)
    session = bridge.server.registry.get("ida")
    assert session is not None

    def deadline() -> float | None:
        timer = session._idle_timer
        return None if timer is None else timer.when()

    armed = deadline()
    assert armed is not None  # idle from the moment it connects
    await asyncio.sleep(0.05)
    await bridge.client.status("ida")
    await bridge.client.health()
    assert deadline() == armed
    reply = await bridge.client.stop("ida")
    assert reply.success
    restarted = deadline()
    assert restarted is not None and restarted > armed
    async with bridge.client.stream("ida") as stream:
        await wait_until(lambda: deadline() is None, 5, "the stream holds the timer off")
        await stream.done_writing()
        assert await stream.receive() is None
    ended = deadline()
    assert ended is not None and ended > restarted  # the period starts again when it ends


async def test_new_stream_supersedes_the_old_one(bridge: BridgeEnv, room_name: str) -> None:
    await bridge.join("kim", room_name)
    old = bridge.client.stream("kim")
    await old.open()
    await stream_open(bridge, "kim")
    async with bridge.client.stream("kim"):
        with pytest.raises(ClientError) as err:
            await old.receive()
        assert err.value.code == "ABORTED"
        assert "superseded" in err.value.details
        assert (await bridge.client.status("kim")).connected


async def test_livekit_server_killed_mid_session(
    bridge: BridgeEnv, livekit_server: LiveKitEnv, tmp_path: Path
) -> None:
    config = LiveKitConfig()
    doomed = LiveKitServer(config, workdir=tmp_path)
    doomed.start()
    try:
        token = mint_token(config.api_key, config.api_secret, "doomed", "cloud-agent:lee")
        joined = await bridge.client.join("lee", token=token, livekit_url=config.url)
        assert joined.success
        stream = bridge.client.stream("lee")
        await stream.open()
        doomed.kill()

        async def disconnected() -> bool:
            return not (await bridge.client.status("lee")).connected

        await wait_for(disconnected, 30, "the session to notice its SFU is gone")
        status = await bridge.client.status("lee")
        assert not status.connected
        assert status.last_disconnect_reason
        assert status.last_disconnect_at > (time.time() - 60) * 1000
        # after a restart the cloud's rejoin works
        doomed.start()
        rejoined = await bridge.client.join("lee", token=token, livekit_url=config.url)
        assert rejoined.success, rejoined.error
        assert (await bridge.client.status("lee")).connected
        stream.cancel()
    finally:
        await bridge.client.leave("lee")
        doomed.stop()


async def test_standard_health_and_reflection(bridge: BridgeEnv) -> None:
    async with grpc.aio.insecure_channel(bridge.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "mentra.livekit.bridge.LiveKitBridge"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = reflect.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        reply = await call.read()
        call.cancel()
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "mentra.livekit.bridge.LiveKitBridge",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


async def test_health_check_reports_live_figures(bridge: BridgeEnv, room_name: str) -> None:

    async def up_a_second() -> bool:
        return (await bridge.client.health()).uptime_seconds >= 1

    await wait_for(up_a_second, 5, "the bridge's reported uptime to reach 1 s")
    await bridge.join("mo", room_name)
    async with bridge.client.stream("mo"):
        await stream_open(bridge, "mo")
        health = await bridge.client.health()
    assert health.status == health.SERVING
    assert (health.active_sessions, health.active_streams) == (1, 1)
    assert health.uptime_seconds >= 1
    assert float(health.metadata["rss_mb"]) > 10 and int(health.metadata["tasks"]) > 0
    assert health.metadata["version"]
    unknown = await bridge.client.health("no.such.Service")
    assert unknown.status == unknown.SERVICE_UNKNOWN
    status = await bridge.client.status("mo")
    assert status.connected and status.participant_id.startswith("PA_")
    assert status.participant_count == 1


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    binary = cache_dir() / "bin" / "grpcurl"
    assert binary.exists(), "scripts/setup.sh installs grpcurl"
    return subprocess.run(
        [str(binary), "-plaintext", *args], capture_output=True, text=True, timeout=20
    )


async def test_grpcurl_sees_every_service(bridge: BridgeEnv) -> None:
    listed = await asyncio.to_thread(grpcurl, bridge.target, "list")
    assert listed.returncode == 0, listed.stderr
    assert "mentra.livekit.bridge.LiveKitBridge" in listed.stdout.split()
    assert "grpc.health.v1.Health" in listed.stdout.split()
    called = await asyncio.to_thread(
        grpcurl,
        "-d",
        '{"user_id": "zed"}',
        bridge.target,
        "mentra.livekit.bridge.LiveKitBridge/GetStatus",
    )
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"server_version": __version__}
    health = await asyncio.to_thread(grpcurl, bridge.target, "grpc.health.v1.Health/Check")
    assert json.loads(health.stdout) == {"status": "SERVING"}


async def test_client_keepalive_pings_every_10_s_are_allowed(bridge: BridgeEnv) -> None:
    """A client pinging every 10 s, even with no call in flight, is never sent away."""
    options = [
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    async with grpc.aio.insecure_channel(bridge.target, options=options) as channel:
        await channel.channel_ready()
        states = set()
        for _ in range(35):  # 3 pings with no call in flight: past the default 2 strikes
            states.add(channel.get_state())
            await asyncio.sleep(1)  # models time: the connection is watched while pings go out
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest())
        states.add(channel.get_state())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert states == {grpc.ChannelConnectivity.READY}, f"the connection was dropped: {states}"

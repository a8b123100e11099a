"""Bad inputs: each gets its exact status and message, and the session survives where it should."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc
from lkbridge.audio.pcm import to_bytes
from lkbridge.audio.signal import dominant_frequency, loud_part, tone
from lkbridge.client import BridgeClient
from lkbridge.errors import ClientError
from tests.conftest import BridgeEnv, BridgeFactory, DeviceFactory
from tests.helpers import heard_to_the_end, pace, wait_until


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"user_id": ""}, "user_id is required"),
        ({"token": ""}, "token is required"),
        ({"livekit_url": ""}, "livekit_url is required"),
        ({"livekit_url": "ftp://127.0.0.1:7880"}, "livekit_url must be a ws://, wss://, http://"),
        ({"livekit_url": "not a url"}, "livekit_url must be a ws://, wss://, http://"),
    ],
)
async def test_join_rejects_missing_or_bad_fields(
    bridge: BridgeEnv, fields: dict[str, str], message: str
) -> None:
    request = {"user_id": "u1", "token": "t", "livekit_url": bridge.livekit.url} | fields
    user_id = request.pop("user_id")
    with pytest.raises(ClientError) as err:
        await bridge.client.join(user_id, **request)
    assert err.value.code == "INVALID_ARGUMENT"
    assert message in err.value.details


async def test_join_with_garbage_token_fails_cleanly(bridge: BridgeEnv) -> None:
    response = await bridge.client.join("u2", token="garbage", livekit_url=bridge.livekit.url)
    assert not response.success
    assert response.error.startswith("token rejected:")
    assert "401" in response.error
    assert bridge.server.registry.get("u2") is None


async def test_join_unreachable_livekit_fails_cleanly(bridge: BridgeEnv, room_name: str) -> None:
    token = bridge.livekit.token(room_name, "cloud-agent:u3")
    response = await bridge.client.join("u3", token=token, livekit_url="ws://127.0.0.1:1")
    assert not response.success
    assert response.error.startswith("livekit server unreachable:")
    assert "refused" in response.error.lower()


async def test_stream_first_chunk_needs_user_id(bridge: BridgeEnv) -> None:
    stream = bridge.client.stream("")
    with pytest.raises(ClientError) as err:
        await stream.open()  # refused before any audio is written
    assert (err.value.code, err.value.details) == (
        "INVALID_ARGUMENT",
        "the first AudioChunk must carry user_id",
    )


async def test_stream_for_unknown_user(bridge: BridgeEnv) -> None:
    stream = bridge.client.stream("nobody")
    with pytest.raises(ClientError) as err:
        await stream.open()  # refused before any audio is written
    assert err.value.code == "NOT_FOUND"
    assert err.value.details == "session not found for user 'nobody'"


async def test_leave_and_status_of_unknown_user(bridge: BridgeEnv) -> None:
    left = await bridge.client.leave("nobody")
    assert (left.success, left.error) == (False, "session not found")
    status = await bridge.client.status("nobody")
    assert not status.connected and status.server_version


async def test_odd_length_pcm_is_trimmed_and_played(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    device = await device_factory(room_name, "device")
    await bridge.join("odd", room_name)
    signal = tone(600, 1.5)
    async with bridge.client.stream("odd") as stream:
        start = time.monotonic()
        for i, chunk in enumerate(np.array_split(signal, 15)):
            await stream.send(to_bytes(chunk) + b"\x7f")  # one stray byte on every chunk
            await pace(start, (i + 1) * 0.1)
        recording = await device.wait_for_track("speaker")
        await wait_until(lambda: heard_to_the_end(recording), 10, "the tone's end at the device")
    heard = loud_part(recording.samples(), 16000)
    assert len(heard) > 16000
    assert dominant_frequency(heard, 16000) == pytest.approx(600, abs=2)


async def test_chunk_over_the_message_limit(bridge: BridgeEnv, room_name: str) -> None:
    await bridge.join("big", room_name)
    # our own client refuses to send it; a raw channel with a larger limit reaches the server
    with pytest.raises(ClientError) as err:
        async with bridge.client.stream("big") as stream:
            await stream.send(b"\0" * (10 * 1024 * 1024 + 2))
    assert err.value.code == "INVALID_ARGUMENT" and "over the 10485760 byte" in err.value.details
    # leaving the stream by an exception cancelled it, which may close the session: join anew
    await bridge.join("big", room_name)
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(bridge.target, options=options) as channel:
        call = pb_grpc.LiveKitBridgeStub(channel).StreamAudio()
        await call.write(pb.AudioChunk(user_id="big"))
        await call.write(pb.AudioChunk(pcm_data=b"\0" * (10 * 1024 * 1024 + 2)))
        with pytest.raises(grpc.aio.AioRpcError) as rpc_err:
            await call.read()
    assert rpc_err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in (rpc_err.value.details() or "")
    # the session is untouched by a refused message... or closed as a broken stream; never a crash
    assert (await bridge.client.health()).status == pb.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    "rate,channels,track_id,message",
    [
        (-8000, 1, 0, "sample_rate -8000 out of range"),
        (500, 1, 0, "sample_rate 500 out of range"),
        (16000, 9, 0, "channels 9 out of range"),
        (16000, -1, 0, "channels -1 out of range"),
        (16000, 1, -1, "track_id -1 out of range"),
        (16000, 1, 99, "track_id 99 out of range"),
    ],
)
async def test_nonsense_audio_format_ends_the_stream_not_the_session(
    bridge: BridgeEnv, room_name: str, rate: int, channels: int, track_id: int, message: str
) -> None:
    await bridge.join("fmt", room_name)
    stream = bridge.client.stream("fmt")
    await stream.open()
    await stream.send(b"\0\0" * 160, sample_rate=rate, channels=channels, track_id=track_id)
    with pytest.raises(ClientError) as err:
        await stream.receive()
    assert err.value.code == "INVALID_ARGUMENT"
    assert message in err.value.details
    status = await bridge.client.status("fmt")
    assert status.connected, "a bad chunk ends its stream; the session stays"
    async with bridge.client.stream("fmt") as again:
        await again.send(b"\0\0" * 320)
    assert bridge.server.registry.get("fmt") is not None


chunk_specs = st.lists(
    st.tuples(
        st.integers(0, 9000),  # bytes, odd sizes included
        st.sampled_from([0, 8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000]),
        st.integers(0, 8),  # channels (0 = proto default, mono)
        st.integers(0, 3),  # track id
    ),
    min_size=1,
    max_size=12,
)


def draw_examples(count: int) -> list[list[tuple[int, int, int, int]]]:
    """Let hypothesis choose (and shrink towards) chunk sequences; replay them on a live stream."""
    examples: list[list[tuple[int, int, int, int]]] = []

    @settings(max_examples=count, database=None, deadline=None)
    @given(chunk_specs)
    def record(spec: list[tuple[int, int, int, int]]) -> None:
        examples.append(spec)

    record()
    return examples


async def test_random_chunks_never_crash_the_session(
    bridge: BridgeEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    await device_factory(room_name, "device")
    await bridge.join("fuzz", room_name)
    rng = np.random.default_rng(7)
    for spec in draw_examples(25):
        async with bridge.client.stream("fuzz") as stream:
            for size, rate, channels, track_id in spec:
                await stream.send(
                    rng.integers(0, 256, size, dtype=np.uint8).tobytes(),
                    sample_rate=rate,
                    channels=channels,
                    track_id=track_id,
                )
            await stream.done_writing()
            while await stream.receive() is not None:
                pass
        session = bridge.server.registry.get("fuzz")
        assert session is not None and session.connected
    health = await bridge.client.health()
    assert health.active_sessions == 1


async def test_auth_token_required_when_configured(
    bridge_factory: BridgeFactory, room_name: str
) -> None:
    bridge = await bridge_factory(auth_token="s3cret-token-for-tests")
    ok = await bridge.client.status("x")
    assert not ok.connected
    for token, message in ((None, "missing bearer token"), ("wrong", "invalid bearer token")):
        async with BridgeClient(bridge.target, auth_token=token) as client:
            for call in (client.status("x"), client.health(), client.leave("x")):
                with pytest.raises(ClientError) as err:
                    await call
                assert (err.value.code, err.value.details) == ("UNAUTHENTICATED", message)
            with pytest.raises(ClientError) as err:
                await client.stream("x").open()
            assert err.value.code == "UNAUTHENTICATED"
            # the standard health service stays open for probes
            assert await client.standard_health() == "SERVING"

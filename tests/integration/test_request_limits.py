"""Per-method request limits (issue 23, finding 2), through a real `lkbridge serve`.

grpc core has one receive limit for every method, sized for StreamAudio's largest chunk. Every
other request is refused unparsed past 64 KiB with RESOURCE_EXHAUSTED naming the limit (before:
a JoinRoom of 19 MiB was parsed, then judged field by field; a HealthCheck carrying 1 MiB of
unknown fields was answered OK). The largest chunk StreamAudio takes still plays, by content.
"""

from __future__ import annotations

import grpc
import pytest

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc
from lkbridge.audio.signal import dominant_frequency, tone
from lkbridge.client import BridgeClient
from lkbridge.server.config import MAX_SMALL_REQUEST_BYTES
from lkbridge.wire import MAX_MESSAGE_BYTES
from tests.conftest import DeviceFactory, LiveKitEnv
from tests.helpers import wait_until
from tests.support.serving import ServeProcess, serve_process, start_serve

__all__ = ["serve_process"]  # a fixture, imported for this module

BRIDGE = "/mentra.livekit.bridge.LiveKitBridge/"
SMALL_METHODS = {  # path -> (request message, server-streaming)
    BRIDGE + "JoinRoom": (pb.JoinRoomRequest(user_id="u"), False),
    BRIDGE + "LeaveRoom": (pb.LeaveRoomRequest(user_id="u"), False),
    BRIDGE + "PlayAudio": (pb.PlayAudioRequest(user_id="u"), True),
    BRIDGE + "StopAudio": (pb.StopAudioRequest(user_id="u"), False),
    BRIDGE + "HealthCheck": (pb.HealthCheckRequest(), False),
    BRIDGE + "GetStatus": (pb.BridgeStatusRequest(user_id="u"), False),
    "/grpc.health.v1.Health/Check": (None, False),
}


def padded(message: object, size: int) -> bytes:
    """`message` serialised and grown to exactly `size` bytes by an unknown bytes field (99): a
    well-formed message a parser would keep whole."""
    head = message.SerializeToString() if message is not None else b""  # type: ignore[attr-defined]
    key = bytes([(99 << 3 | 2) & 0x7F | 0x80, 99 >> 4])  # field 99, wire type 2, as a varint
    for length_bytes in range(1, 5):  # the length's own varint size depends on the length
        length = size - len(head) - len(key) - length_bytes
        varint = bytearray()
        value = length
        while True:
            byte, value = value & 0x7F, value >> 7
            varint.append(byte | (0x80 if value else 0))
            if not value:
                break
        if len(varint) == length_bytes:
            data = head + key + bytes(varint) + b"x" * length
            assert len(data) == size
            return data
    raise AssertionError(size)


async def call(
    channel: grpc.aio.Channel, path: str, data: bytes, streaming: bool
) -> grpc.aio.AioRpcError | None:
    try:
        if streaming:
            async for _ in channel.unary_stream(path)(data, timeout=10):
                pass
        else:
            await channel.unary_unary(path)(data, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc
    return None


@pytest.fixture
def served(serve_process: list[ServeProcess]) -> ServeProcess:
    process = start_serve("--port", "0")
    serve_process.append(process)
    return process


async def test_every_small_method_refuses_a_large_request_unparsed(served: ServeProcess) -> None:
    size = MAX_SMALL_REQUEST_BYTES + 1
    async with grpc.aio.insecure_channel(served.target) as channel:
        for path, (message, streaming) in SMALL_METHODS.items():
            err = await call(channel, path, padded(message, size), streaming)
            method = path.rsplit("/", 1)[1]
            assert err is not None, path
            assert (err.code(), err.details()) == (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"request too large: {size} bytes, over the 65536 byte limit for a {method} "
                "message",
            ), path
        # 19 MiB, under grpc core's own limit: refused by the same rule, not parsed
        err = await call(channel, BRIDGE + "JoinRoom", b"\n" * (19 << 20), False)
        assert err is not None and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert err.details() == (
            f"request too large: {19 << 20} bytes, over the 65536 byte limit for a JoinRoom message"
        )
        # at the limit: taken (unknown fields are ignored) and answered
        at_limit = padded(pb.HealthCheckRequest(), MAX_SMALL_REQUEST_BYTES)
        answer = await channel.unary_unary(BRIDGE + "HealthCheck")(at_limit, timeout=10)
        assert pb.HealthCheckResponse.FromString(answer).status == pb.HealthCheckResponse.SERVING
    async with BridgeClient(served.target) as client:
        assert (await client.health()).status == pb.HealthCheckResponse.SERVING


async def test_the_largest_chunk_still_plays(
    served: ServeProcess, livekit_server: LiveKitEnv, device_factory: DeviceFactory, room_name: str
) -> None:
    """One AudioChunk of exactly MAX_MESSAGE_BYTES (8 channels at 192 kHz: 3.4 s) is taken and
    heard at the device as the tone it carries; the session stays."""
    device = await device_factory(room_name, "device")
    head = pb.AudioChunk(sample_rate=192000, channels=8).ByteSize()
    frames = (MAX_MESSAGE_BYTES - head - 5) // 16  # 5: pcm_data's key and length varint
    pcm = tone(700, frames / 192000, 192000, channels=8).tobytes()
    chunk = pb.AudioChunk(pcm_data=pcm, sample_rate=192000, channels=8)
    assert MAX_MESSAGE_BYTES - 16 < chunk.ByteSize() <= MAX_MESSAGE_BYTES, chunk.ByteSize()
    async with BridgeClient(served.target) as client:
        token = livekit_server.token(room_name, "cloud-agent:big")
        joined = await client.join("big", token=token, livekit_url=livekit_server.url,
                                   room_name=room_name, target_identity="device")  # fmt: skip
        assert joined.success, joined.error
        options = [("grpc.max_send_message_length", 2 * MAX_MESSAGE_BYTES)]
        async with grpc.aio.insecure_channel(served.target, options=options) as channel:
            call = pb_grpc.LiveKitBridgeStub(channel).StreamAudio()
            await call.write(pb.AudioChunk(user_id="big"))
            await call.write(chunk)
            recording = await device.wait_for_track("speaker")
            await wait_until(lambda: len(recording.samples()) > 32000, 20, "two seconds heard")
            heard = recording.samples()[-16000:]
            assert dominant_frequency(heard, 16000) == pytest.approx(700, abs=3)
            assert (await client.status("big")).connected
            await call.done_writing()

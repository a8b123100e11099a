"""The typed async client of the bridge, used by the CLI, the TUI, the tests and the benchmarks.

    async with BridgeClient("127.0.0.1:9090") as bridge:
        await bridge.join("alice", token=..., livekit_url="ws://...")
        async with bridge.stream("alice") as stream:
            await stream.send(pcm)
            async for chunk in stream: ...

Every gRPC failure reaches the caller as `lkbridge.errors.ClientError` with the status name.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc
from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge._proto import lkbridge_admin_pb2_grpc as admin_grpc
from lkbridge.audio import ROOM_RATE
from lkbridge.errors import ClientError
from lkbridge.wire import MAX_MESSAGE_BYTES, STREAM_ACCEPTED

T = TypeVar("T")


@dataclass(frozen=True)
class ClientTls:
    ca: Path
    cert: Path | None = None  # with key: mutual TLS
    key: Path | None = None
    server_name: str | None = None


def channel_options(server_name: str | None = None) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # A small receive window (no BDP probing, which grows it to MiBs; 8 KiB per stream, a
        # quarter second of 16 kHz audio): what a stalled reader finds waiting is then the
        # bridge's outbox (its newest 2 s), not minutes of old audio held in the transport.
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", 8 * 1024),
        # one client, one connection: grpc core otherwise shares a connection among channels
        # to the same target, and calls past the bridge's --max-streams-per-connection on it
        # fail UNAVAILABLE however many clients the caller made
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return options


def _translate(exc: grpc.aio.AioRpcError) -> ClientError:
    return ClientError(exc.code().name, exc.details() or "")


async def _call(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except grpc.aio.AioRpcError as exc:
        raise _translate(exc) from None


class BridgeClient:
    def __init__(
        self,
        target: str,
        *,
        auth_token: str | None = None,
        tls: ClientTls | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {auth_token}"),) if auth_token else ()
        )
        if tls is None:
            self._channel = grpc.aio.insecure_channel(target, options=channel_options())
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=tls.ca.read_bytes(),
                private_key=tls.key.read_bytes() if tls.key else None,
                certificate_chain=tls.cert.read_bytes() if tls.cert else None,
            )
            self._channel = grpc.aio.secure_channel(
                target, credentials, options=channel_options(tls.server_name)
            )
        self._stub = pb_grpc.LiveKitBridgeStub(self._channel)
        self._admin = admin_grpc.BridgeAdminStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def __aenter__(self) -> BridgeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._channel.close()

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the channel connects (the server is listening)."""
        try:
            await asyncio.wait_for(self._channel.channel_ready(), timeout)
        except TimeoutError:
            raise ClientError("UNAVAILABLE", f"bridge at {self.target} not reachable") from None

    def _unary(self, method: Callable[..., Awaitable[T]], request: Any) -> Awaitable[T]:
        return _call(method(request, timeout=self.timeout, metadata=self._metadata))

    async def _server_stream(self, method: Callable[..., Any], request: Any) -> AsyncIterator[Any]:
        """The messages of a server-streaming call; leaving early cancels the call."""
        call = method(request, metadata=self._metadata)
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from None
        finally:
            call.cancel()

    # -- rooms ---------------------------------------------------------------------------------

    async def join(
        self,
        user_id: str,
        *,
        token: str,
        livekit_url: str,
        room_name: str = "",
        target_identity: str = "",
    ) -> pb.JoinRoomResponse:
        request = pb.JoinRoomRequest(
            user_id=user_id,
            token=token,
            livekit_url=livekit_url,
            room_name=room_name,
            target_identity=target_identity,
        )
        return await self._unary(self._stub.JoinRoom, request)

    async def leave(self, user_id: str, reason: str = "") -> pb.LeaveRoomResponse:
        return await self._unary(
            self._stub.LeaveRoom, pb.LeaveRoomRequest(user_id=user_id, reason=reason)
        )

    async def status(self, user_id: str) -> pb.BridgeStatusResponse:
        return await self._unary(self._stub.GetStatus, pb.BridgeStatusRequest(user_id=user_id))

    async def health(self, service: str = "") -> pb.HealthCheckResponse:
        return await self._unary(self._stub.HealthCheck, pb.HealthCheckRequest(service=service))

    async def standard_health(self, service: str = "") -> str:
        """The grpc.health.v1 status name (SERVING, NOT_SERVING, ...)."""
        response = await _call(
            self._health.Check(health_pb2.HealthCheckRequest(service=service), timeout=self.timeout)
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    # -- admin ---------------------------------------------------------------------------------

    async def list_sessions(self) -> list[admin_pb.SessionInfo]:
        response = await self._unary(self._admin.ListSessions, admin_pb.ListSessionsRequest())
        return list(response.sessions)

    async def watch_stats(
        self, interval_ms: int = 1000, include_sessions: bool = True
    ) -> AsyncIterator[admin_pb.StatsSnapshot]:
        """Snapshots from the bridge until the caller stops iterating."""
        request = admin_pb.WatchStatsRequest(
            interval_ms=interval_ms, include_sessions=include_sessions
        )
        async for snapshot in self._server_stream(self._admin.WatchStats, request):
            yield snapshot

    # -- playback ------------------------------------------------------------------------------

    async def play(
        self,
        user_id: str,
        audio_url: str,
        *,
        request_id: str = "",
        volume: float = 0.0,
        stop_other: bool = False,
        track_id: int = 0,
    ) -> AsyncIterator[pb.PlayAudioEvent]:
        """Yield the PlayAudio events; the call ends after COMPLETED or FAILED."""
        request = pb.PlayAudioRequest(
            user_id=user_id,
            audio_url=audio_url,
            request_id=request_id,
            volume=volume,
            stop_other=stop_other,
            track_id=track_id,
        )
        async for event in self._server_stream(self._stub.PlayAudio, request):
            yield event

    async def stop(
        self, user_id: str, *, track_id: int = -1, request_id: str = "", reason: str = ""
    ) -> pb.StopAudioResponse:
        request = pb.StopAudioRequest(
            user_id=user_id, track_id=track_id, request_id=request_id, reason=reason
        )
        return await self._unary(self._stub.StopAudio, request)

    # -- audio ---------------------------------------------------------------------------------

    def stream(self, user_id: str) -> AudioStreamCall:
        return AudioStreamCall(self._stub.StreamAudio(metadata=self._metadata), user_id)


class AudioStreamCall:
    """One StreamAudio call. The first chunk (user_id, no audio) is sent by `open()`."""

    def __init__(self, call: Any, user_id: str) -> None:
        self._call = call
        self.user_id = user_id
        self.chunks_sent = 0
        self.bytes_sent = 0
        self._pending_read: asyncio.Future[Any] | None = None

    async def __aenter__(self) -> AudioStreamCall:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """A clean exit half-closes and lets the bridge end the call (the session stays);
        an exception cancels it (the bridge then closes the session, as for a broken stream)."""
        if exc_type is None:
            await self.done_writing()
            with contextlib.suppress(ClientError, TimeoutError):
                while await self.receive(timeout=5) is not None:
                    pass
        self.cancel()

    async def open(self) -> None:
        """Send the first chunk and wait for the bridge to accept the stream (its initial
        metadata) or refuse it (NOT_FOUND, INVALID_ARGUMENT, ... raised here): audio written
        before that answer could race a refusal, which grpc.aio then reports as INTERNAL."""
        await self._write(pb.AudioChunk(user_id=self.user_id))
        try:
            headers = await self._call.initial_metadata()
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from None
        if STREAM_ACCEPTED in tuple(headers or ()):
            return
        # no acceptance: the answer was a refusal, whose status may not be read yet
        code = await self._call.code()
        if code != grpc.StatusCode.OK:
            raise ClientError(code.name, await self._call.details() or "")

    async def send(
        self, pcm: bytes, *, sample_rate: int = ROOM_RATE, channels: int = 1, track_id: int = 0
    ) -> None:
        if len(pcm) > MAX_MESSAGE_BYTES - 64:
            raise ClientError(
                "INVALID_ARGUMENT",
                f"chunk of {len(pcm)} bytes is over the {MAX_MESSAGE_BYTES} byte message limit",
            )
        await self._write(
            pb.AudioChunk(
                pcm_data=pcm, sample_rate=sample_rate, channels=channels, track_id=track_id
            )
        )
        self.chunks_sent += 1
        self.bytes_sent += len(pcm)

    async def _write(self, chunk: pb.AudioChunk) -> None:
        try:
            await self._call.write(chunk)
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from None
        except (grpc.aio.UsageError, asyncio.InvalidStateError) as exc:  # the call ended
            raise ClientError("CANCELLED", f"stream already finished: {exc}") from None

    async def done_writing(self) -> None:
        with contextlib.suppress(grpc.aio.UsageError):
            await self._call.done_writing()

    async def receive(self, timeout: float | None = None) -> pb.AudioChunk | None:
        """The next chunk from the room, or None when the stream ended cleanly.

        With `timeout`, raises TimeoutError when nothing came in time. The read stays pending
        and the next call picks it up: cancelling a grpc.aio read would cancel the whole call.
        """
        if self._pending_read is None:
            self._pending_read = asyncio.ensure_future(self._call.read())
        read = self._pending_read
        done, _ = await asyncio.wait({read}, timeout=timeout)
        if not done:
            raise TimeoutError("no audio within the timeout")
        self._pending_read = None
        try:
            message = read.result()
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from None
        except asyncio.CancelledError:
            raise ClientError("CANCELLED", "stream cancelled") from None
        if message is grpc.aio.EOF:
            return None
        chunk: pb.AudioChunk = message
        return chunk

    def __aiter__(self) -> AsyncIterator[pb.AudioChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[pb.AudioChunk]:
        while (chunk := await self.receive()) is not None:
            yield chunk

    async def status(self) -> tuple[str, str]:
        """(status name, details) once the call is over."""
        code = await self._call.code()
        details = await self._call.details()
        return code.name, details or ""

    def cancel(self) -> None:
        self._call.cancel()
        if self._pending_read is not None:
            self._pending_read.cancel()
            self._pending_read = None

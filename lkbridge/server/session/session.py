"""One user's bridge session: its room, output tracks, outbox, stream binding and lifecycle.

Data flows one way through it: client audio -> `write()` -> tracks -> room, and room events ->
outbox -> the bound stream's writer. Every room event handler checks the session's own state, and
each session owns its own Room, so events of a replaced room can never touch its successor.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
import time
from collections.abc import Callable

from livekit import rtc

from lkbridge.audio.pcm import Int16Array
from lkbridge.errors import JoinFailed, NotConnected, RoomLost
from lkbridge.server.config import BridgeConfig
from lkbridge.server.playback.player import Playback, PlayRequest
from lkbridge.server.policy.playback_url import FetchPolicy
from lkbridge.server.redact import clip
from lkbridge.server.room_to_client.outbox import Outbox
from lkbridge.server.room_to_client.track_forwarding import TrackForwarding
from lkbridge.server.room_to_client.unannounced import UnannouncedPackets
from lkbridge.server.rtc.runtime import route_own_events
from lkbridge.server.rtc.tracks import Delivery, TrackOptions, TrackSet
from lkbridge.server.session.binding import StreamBinding, StreamEnd
from lkbridge.server.stalls import STALLS

log = logging.getLogger(__name__)


class SessionState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _disconnect_reason_name(reason: object) -> str:
    try:
        return str(rtc.DisconnectReason.Name(reason))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return str(reason)


class Session:
    """Build inside the running loop; `connect()` once; `close()` is idempotent."""

    def __init__(
        self,
        user_id: str,
        *,
        room_name: str,
        target_identity: str,
        config: BridgeConfig,
        on_idle: Callable[[Session], None] | None = None,
    ) -> None:
        self.user_id = user_id
        self.requested_room = room_name
        self.target_identity = target_identity
        self._config = config
        self._on_idle = on_idle
        self.room = rtc.Room()
        self.tracks = TrackSet(
            self.room,
            TrackOptions(
                queue_ms=config.source_queue_ms,
                catch_up_ms=config.catch_up_ms,
                min_frame_ms=config.capture_min_ms,
                max_frame_ms=config.capture_max_ms,
                first_audio_wait_s=config.first_audio_wait_s,
                publish_bitrate=config.publish_bitrate,
                quiet_ms=config.track_quiet_ms,
                red=config.publish_red,
                dtx=config.publish_dtx,
            ),
        )
        self.outbox = Outbox(config.outbox_bytes, config.outbox_ms / 1000)
        self._unannounced = UnannouncedPackets(config.outbox_bytes, config.outbox_ms / 1000)
        self.state = SessionState.CONNECTING
        self.created_at = time.monotonic()
        self.last_disconnect_at = 0
        self.last_disconnect_reason = ""
        # Why close() ran, and how: told to a stream that comes too late to bind.
        self.close_reason = ""
        self.closed_as = StreamEnd.SESSION_CLOSED
        # client audio a stall of the bridge made late past the source queue's bound, dropped
        self.dropped_in_chunks = 0
        self.dropped_in_ms = 0
        self._late_after_stall = -1  # the stall whose late audio was last told in the log
        self.frames_in = 0
        self.bytes_in = 0
        self.frames_out = 0
        self.bytes_out = 0
        self.stream: StreamBinding | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._forwarding = TrackForwarding(
            user_id, target_identity, self.outbox, config.capture_min_ms
        )
        self.playbacks: dict[str, Playback] = {}
        self._close_lock = asyncio.Lock()
        self.room.on("data_received", self._on_data)
        self.room.on("participant_connected", self._on_participant_connected)
        self.room.on("disconnected", self._on_disconnected)
        self.room.on("reconnecting", self._on_reconnecting)
        self.room.on("reconnected", self._on_reconnected)
        if config.forward_tracks:
            self.room.on("track_subscribed", self._on_track_subscribed)
            self.room.on("track_unsubscribed", self._forwarding.readers.on_track_unsubscribed)

    def _set_state(self, new: SessionState) -> None:
        if new is not self.state:
            log.info("session %s: %s -> %s", self.user_id, self.state.value, new.value)
            self.state = new

    # -- lifecycle -------------------------------------------------------------------------------

    async def connect(self, url: str, token: str) -> None:
        """Join the room. Never cancelled from outside: the SDK's own timeout bounds it."""
        options = rtc.RoomOptions(
            auto_subscribe=self._config.forward_tracks,
            connect_timeout=self._config.connect_timeout_s,
        )
        try:
            await self.room.connect(url, token, options)
        except rtc.ConnectError as exc:
            self._set_state(SessionState.CLOSED)
            raise JoinFailed(describe_connect_error(exc.message)) from None
        route_own_events(self.room, on_data=self._on_packet)
        if self.state is SessionState.CLOSED:  # closed while connecting (shutdown)
            await self.room.disconnect()
            raise JoinFailed("session closed while connecting")
        self._set_state(SessionState.CONNECTED)
        self.arm_idle_timer()

    @property
    def connected(self) -> bool:
        return self.state is SessionState.CONNECTED and self.room.isconnected()

    @property
    def participant_id(self) -> str:
        with contextlib.suppress(Exception):
            return self.room.local_participant.sid
        return ""

    @property
    def participant_count(self) -> int:
        """Participants in the room, the bridge included; 0 when not connected."""
        return len(self.room.remote_participants) + 1 if self.connected else 0

    @property
    def room_name(self) -> str:
        return self.room.name if self.room.isconnected() else self.requested_room

    async def close(self, reason: str, why: StreamEnd = StreamEnd.SESSION_CLOSED) -> None:
        """Leave the room and release everything, in the SDK's cleanup order. Idempotent.
        The bound stream ends `why` (REPLACED for a session a JoinRoom replaced), with `reason`."""
        async with self._close_lock:
            if self.state is SessionState.CLOSED and not self.room.isconnected():
                return
            self._set_state(SessionState.CLOSED)
            self.close_reason, self.closed_as = reason, why
            log.info("session %s closing: %s", self.user_id, clip(reason))
            self.cancel_idle_timer()
            if self.stream is not None:
                self.stream.end(why, reason)
                self.stream = None
            await self._stop_and_wait(self.stop_playbacks(reason=f"session closed: {reason}"))
            await self._forwarding.aclose()
            await self.tracks.aclose()
            with contextlib.suppress(Exception):
                await self.room.disconnect()
            self.outbox.clear()
            self._unannounced.clear()

    # -- stream binding --------------------------------------------------------------------------

    def bind_stream(self) -> StreamBinding:
        """Attach a new StreamAudio call; an older one is superseded and ends."""
        if self.state is SessionState.CLOSED:
            raise NotConnected("session is closed")
        if self.stream is not None:
            self.stream.end(StreamEnd.SUPERSEDED)
        self.cancel_idle_timer()
        self.stream = StreamBinding()
        return self.stream

    def unbind_stream(self, binding: StreamBinding) -> None:
        """The call ended and the client did not break it (a clean end, or the bridge ended it
        with an error status): the session stays until leave, rejoin or idle timeout."""
        if self.stream is binding:
            self.stream = None
            self.arm_idle_timer()

    @property
    def busy(self) -> bool:
        """Idle, the one definition (architecture.md, operations.md and `--idle-timeout` point
        here): a session is idle while no StreamAudio call is bound to it and no playback runs
        on it, and it closes after `--idle-timeout` seconds idle (0: never). The idle period
        starts when the session connects, again when its last stream or playback ends, and again
        at each StopAudio for its user; GetStatus, HealthCheck and the admin service only look.
        A busy session never idles out, however long its stream or playback lasts."""
        return self.stream is not None or bool(self.playbacks)

    def touch(self) -> None:
        """A StopAudio for this user: the idle period starts again (see `busy`)."""
        if self._idle_timer is not None:
            self.arm_idle_timer()

    def arm_idle_timer(self) -> None:
        self.cancel_idle_timer()
        if self._on_idle is None or self._config.idle_timeout_s <= 0:
            return
        if self.busy or self.state is SessionState.CLOSED:
            return
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(self._config.idle_timeout_s, self._fire_idle)

    def cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _fire_idle(self) -> None:
        self._idle_timer = None
        if not self.busy and self.state is not SessionState.CLOSED and self._on_idle:
            self._on_idle(self)

    # -- client -> room --------------------------------------------------------------------------

    async def write(self, track_id: int, samples: Int16Array) -> Delivery:
        """Send streamed audio to a track."""
        if self.state is not SessionState.CONNECTED:
            raise RoomLost(f"room not connected: room is {self.state.value}")
        self.frames_in += 1
        self.bytes_in += 2 * len(samples)
        return await self.tracks.get(track_id).write(samples)

    def drop_late(self, seconds: float, late_s: float) -> None:
        """A streamed chunk not played: a stall of the bridge kept it `late_s` past its time
        (grpc/service.py); counted, and told once per stall."""
        if self._late_after_stall != STALLS.count:
            self._late_after_stall = STALLS.count
            log.warning(
                "session %s: client audio %.1f s late after a stall of the bridge: dropping "
                "what is older than the source queue's bound",
                self.user_id,
                late_s,
            )
        self.dropped_in_chunks += 1
        self.dropped_in_ms += round(seconds * 1000)

    async def flush(self) -> None:
        for track in self.tracks:
            if self.state is SessionState.CONNECTED:
                await track.flush()

    # -- playback --------------------------------------------------------------------------------

    def start_playback(
        self, request: PlayRequest, policy: FetchPolicy, *, stop_other: bool, progress_s: float
    ) -> Playback:
        """Start a playback; stop_other stops every playback, else only this track's current."""
        if not self.connected:
            raise NotConnected(f"room not connected: room is {self.state.value}")
        if stop_other:
            self.stop_playbacks(reason=f"stop_other by {request.request_id}")
        else:
            self.stop_playbacks(
                track_id=request.track_id, reason=f"replaced by {request.request_id}"
            )
        playback = Playback(request, self.tracks.get(request.track_id), policy, progress_s)
        self.playbacks[request.request_id] = playback
        self.cancel_idle_timer()
        playback.start(on_done=self.finish_playback)
        return playback

    def finish_playback(self, playback: Playback) -> None:
        if self.playbacks.get(playback.request_id) is playback:
            del self.playbacks[playback.request_id]
            self.arm_idle_timer()  # the idle period starts when the last playback ends

    def stop_playbacks(
        self, *, track_id: int = -1, request_id: str = "", reason: str
    ) -> list[Playback]:
        """Stop matching playbacks (all with track_id -1); returns those it stopped."""
        stopped = []
        for playback in list(self.playbacks.values()):
            if request_id and playback.request_id != request_id:
                continue
            if track_id >= 0 and playback.request.track_id != track_id:
                continue
            if playback.stop(reason):
                stopped.append(playback)
        return stopped

    async def _stop_and_wait(self, playbacks: list[Playback]) -> None:
        for playback in playbacks:
            await playback.wait()

    # -- room events (run in the room's event task: quick, never awaiting) ------------------------

    def _on_data(self, packet: rtc.DataPacket) -> None:
        """Packets of the room's first moments, before `route_own_events` takes them."""
        self._on_packet(packet.data, packet.participant.identity if packet.participant else "")

    def _on_packet(self, data: bytes, sender: str) -> None:
        if self.state is SessionState.CLOSED:
            return
        if self.target_identity:
            if not sender and self.target_identity not in self.room.remote_participants:
                self._unannounced.hold(data)  # perhaps the target, not announced yet
                return
            if sender != self.target_identity:
                return
        self.outbox.put_device_packet(data)

    def _on_participant_connected(self, participant: rtc.RemoteParticipant) -> None:
        if self.state is SessionState.CLOSED or not len(self._unannounced):
            return
        if participant.identity == self.target_identity:
            for packet in self._unannounced.release():
                self.outbox.put_device_packet(packet)
        else:
            self._unannounced.discard()

    def _on_disconnected(self, reason: object) -> None:
        if self.state is SessionState.CLOSED:
            return
        self.last_disconnect_at = _now_ms()
        self.last_disconnect_reason = _disconnect_reason_name(reason)
        self._set_state(SessionState.DISCONNECTED)
        if self.stream is not None:
            self.stream.end(StreamEnd.ROOM_DISCONNECTED, self.last_disconnect_reason)

    def _on_reconnecting(self) -> None:
        if self.state is SessionState.CLOSED:
            return
        self.last_disconnect_at = _now_ms()
        self.last_disconnect_reason = "signal connection lost, reconnecting"
        self._set_state(SessionState.RECONNECTING)

    def _on_reconnected(self) -> None:
        if self.state is SessionState.RECONNECTING:
            self._set_state(SessionState.CONNECTED)

    def _on_track_subscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if self.state is not SessionState.CLOSED:
            self._forwarding.readers.on_track_subscribed(track, publication, participant)


# the SDK's answer to an HTTP error quotes the response's body: "404 Not Found - <body>"
_HTTP_BODY = re.compile(r"(\b[1-5]\d\d [A-Za-z][A-Za-z' -]*?) - (.*)\Z", re.DOTALL)


def without_body(message: str) -> str:
    """The SDK's message without the body of an HTTP answer it quotes: the URL may point at
    any HTTP server (an internal one, a metadata service), whose page must not come back
    through JoinRoom.error or the log."""
    match = _HTTP_BODY.search(message)
    if match is None:
        return message
    withheld = len(match.group(2).encode("utf-8", "surrogatepass"))
    return f"{message[: match.start(2) - 3]} (response body of {withheld} bytes withheld)"


def describe_connect_error(message: str) -> str:
    """Say in words a person acts on why the SDK could not join."""
    message = without_body(message)
    lowered = message.lower()
    if "401" in lowered or "unauthorized" in lowered or "invalid token" in lowered:
        kind = "token rejected"
    elif "timed out" in lowered or "timeout" in lowered:
        kind = "timed out"
    elif "refused" in lowered or "dns" in lowered or "resolve" in lowered or "connect" in lowered:
        kind = "livekit server unreachable"
    else:
        kind = "connection failed"
    return f"{kind}: {message}"

"""The simulated device: an SDK participant in the glasses' role.

It sends microphone audio the way the glasses do (PCM16 16 kHz mono data packets behind a 1-byte
sequence header, so the length is odd), can publish a real audio track, and records every audio
track it subscribes to, per track name, with arrival times so tests can measure latency; or,
given `record_to`, hands each track's frames to a sink instead (a file: memory stays flat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import numpy as np
from livekit import rtc

from lkbridge.audio.pcm import Int16Array, chunks, samples_per_ms, to_bytes
from lkbridge.server.rtc.remote_audio import Reader, RemoteAudioReaders
from lkbridge.server.rtc.runtime import route_own_events

log = logging.getLogger(__name__)

DEVICE_RATE = 16000


@dataclass
class TrackRecording:
    """What the device heard on one subscribed track."""

    name: str
    publisher: str
    parts: list[Int16Array] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # monotonic time of each frame
    subscribed_at: float = field(default_factory=time.monotonic)

    def samples(self) -> Int16Array:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int16)


class AudioSink(Protocol):
    """Where one track's frames go when they are not kept in memory."""

    def write(self, samples: Int16Array) -> None: ...


# (track name, publisher identity) -> the track's sink; called in the room's callback
SinkFor = Callable[[str, str], AudioSink]


@dataclass
class ReceivedPacket:
    data: bytes
    sender: str
    topic: str
    at: float


class DevicePeer:
    """One SDK participant. Build it inside the running loop; `aclose()` it."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        record_rate: int = DEVICE_RATE,
        subscribe: bool = True,
        keep_audio: bool = True,
        record_to: SinkFor | None = None,
    ) -> None:
        """`keep_audio=False`: subscribe (so the bridge's tracks have their listener) but keep
        no samples: a device that runs for hours (`lkbridge dev`) must not grow by 32 KB/s per
        track it hears. `record_to`: each track's frames go to its sink, not to `recordings`."""
        self.url = url
        self._token = token
        self._subscribe = subscribe
        self._keep_audio = keep_audio
        self._record_to = record_to
        self.room = rtc.Room()
        self.recordings: dict[str, TrackRecording] = {}
        # recordings a newer publication of the same name replaced (a bridge's track parked
        # after a quiet spell and published again), oldest first
        self.earlier_recordings: list[TrackRecording] = []
        self.packets: list[ReceivedPacket] = []
        self._readers = RemoteAudioReaders("device", "record", self._recorder_for, record_rate)
        self._sources: list[rtc.AudioSource] = []
        self._track_event = asyncio.Event()
        self._seq = 0
        self.room.on("track_subscribed", self._readers.on_track_subscribed)
        self.room.on("track_unsubscribed", self._readers.on_track_unsubscribed)
        self.room.on("data_received", self._on_data)

    @property
    def identity(self) -> str:
        return self.room.local_participant.identity

    async def connect(self) -> None:
        await self.room.connect(
            self.url,
            self._token,
            rtc.RoomOptions(auto_subscribe=self._subscribe, connect_timeout=5.0),
        )
        route_own_events(self.room)  # many devices share a process in tests and benchmarks

    # -- sending -------------------------------------------------------------------------------

    def packetize(self, pcm: bytes) -> bytes:
        """Prefix the 1-byte sequence header the glasses send."""
        header = bytes([self._seq & 0xFF])
        self._seq += 1
        return header + pcm

    async def send_packets(
        self,
        samples: Int16Array,
        *,
        chunk_ms: int = 100,
        realtime: bool = True,
        header: bool = True,
        reliable: bool = True,
    ) -> list[tuple[float, bytes]]:
        """Send audio as data packets at real-time pace; returns (send time, packet) pairs."""
        sent: list[tuple[float, bytes]] = []
        size = samples_per_ms(DEVICE_RATE, chunk_ms)
        start = time.monotonic()
        for i, chunk in enumerate(chunks(samples, size)):
            pcm = to_bytes(chunk)
            packet = self.packetize(pcm) if header else pcm
            await self.room.local_participant.publish_data(packet, reliable=reliable)
            sent.append((time.monotonic(), packet))
            if realtime:
                delay = start + (i + 1) * chunk_ms / 1000 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        return sent

    async def publish_audio(
        self, name: str, samples: Int16Array, *, rate: int = DEVICE_RATE, frame_ms: int = 20
    ) -> None:
        """Publish a microphone track called `name` and play `samples` into it in real time."""
        source = rtc.AudioSource(rate, 1, queue_size_ms=200)
        self._sources.append(source)
        track = rtc.LocalAudioTrack.create_audio_track(name, source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, options)
        size = samples_per_ms(rate, frame_ms)
        for chunk in chunks(samples, size):
            if len(chunk) < size:
                chunk = np.pad(chunk, (0, size - len(chunk)))
            frame = rtc.AudioFrame(to_bytes(chunk), rate, 1, size)
            await source.capture_frame(frame)
        await source.wait_for_playout()

    # -- receiving -----------------------------------------------------------------------------

    def _on_data(self, packet: rtc.DataPacket) -> None:
        sender = packet.participant.identity if packet.participant else ""
        self.packets.append(
            ReceivedPacket(packet.data, sender, packet.topic or "", time.monotonic())
        )

    def _recorder_for(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> Reader:
        name = publication.name or track.name
        if self._record_to is not None:
            return partial(self._stream_to, sink=self._record_to(name, participant.identity))
        recording = TrackRecording(name=name, publisher=participant.identity)
        if name in self.recordings:
            self.earlier_recordings.append(self.recordings[name])
        self.recordings[name] = recording
        self._track_event.set()
        return partial(self._record, recording=recording)

    async def _record(self, stream: rtc.AudioStream, recording: TrackRecording) -> None:
        async for event in stream:
            if not self._keep_audio:
                continue
            frame = event.frame
            recording.parts.append(np.frombuffer(frame.data, dtype=np.int16).copy())
            recording.arrivals.append(time.monotonic())

    async def _stream_to(self, stream: rtc.AudioStream, sink: AudioSink) -> None:
        async for event in stream:
            sink.write(np.frombuffer(event.frame.data, dtype=np.int16))

    async def wait_for_track(self, name: str, timeout: float = 10.0) -> TrackRecording:
        deadline = time.monotonic() + timeout
        while name not in self.recordings:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"device {self.identity} never subscribed to track {name!r} "
                    f"(has {sorted(self.recordings)})"
                )
            self._track_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._track_event.wait(), remaining)
        return self.recordings[name]

    async def wait_for_packets(self, count: int, timeout: float = 10.0) -> list[ReceivedPacket]:
        deadline = time.monotonic() + timeout
        while len(self.packets) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"received {len(self.packets)} of {count} data packets")
            await asyncio.sleep(0.02)
        return self.packets

    async def aclose(self) -> None:
        """Cleanup order from the SDK notes: streams, sources, then the room."""
        await self._readers.aclose()
        for source in self._sources:
            with contextlib.suppress(Exception):
                await source.aclose()
        self._sources.clear()
        with contextlib.suppress(Exception):
            await self.room.disconnect()

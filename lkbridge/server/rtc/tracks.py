"""Named output tracks of a session: an AudioSource and its published track, created on first use.

No track is published at join (an empty published track is heard as static on the phone). A
published track costs while nothing plays: the source's 10 ms timer feeds silence to the encoder,
which codes silence at speech's price (docs/sdk-costs.md). So a track quiet for `quiet_ms` is
*parked*: unpublished and its source closed. The next loud audio publishes it again through the
same path as the first time, first-words hold included, so nothing said after a quiet spell is
lost (the Go bridge's "no audio after first play" bug was a closed track that never came back).
Off by default: the SDK keeps an idle encoder thread for every publication unpublished while the
room stays connected (docs/operations.md, "Quiet tracks").
A source accepts one writer at a time, so every capture goes through the track's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from livekit import rtc

from lkbridge.audio import ROOM_RATE
from lkbridge.audio.meter import LevelMeter
from lkbridge.audio.pcm import Int16Array, samples_per_ms, to_bytes

log = logging.getLogger(__name__)

WELL_KNOWN_TRACKS = {0: "speaker", 1: "app_audio", 2: "tts"}


@dataclass(frozen=True)
class TrackOptions:
    queue_ms: int = 1000
    min_frame_ms: int = 20
    max_frame_ms: int = 100
    first_audio_wait_s: float = 2.0
    # Streamed audio only: drop silent frames while more than this is queued. The source's
    # timer sends 10 ms every 10 ms and fills an empty queue with silence, so every chunk that
    # arrives late pushes all later audio back for good, and the backlog grows to the worst
    # lateness seen (and the held first utterance's backlog stays): a silent frame is the one
    # place to give that time back. 0 gives it all back at the first pause (docs/benchmarks.md,
    # "Latency split, cloud -> room").
    catch_up_ms: int = 0
    publish_bitrate: int = 0  # Opus max bitrate in bit/s; 0: the SDK's default
    # park (unpublish, close the source) a track that sent nothing loud for this long; 0: never
    quiet_ms: int = 0
    red: bool = True  # each packet also carries the previous frame: single losses hidden
    dtx: bool = True  # almost nothing sent in pauses


@dataclass(frozen=True)
class Delivery:
    """When streamed audio was handed to the SDK, for the bridge-added latency figures.

    The SDK copies a frame into its native side inside the `capture_frame` call, before the
    call's first await; the await that follows is an acknowledgement from the SDK's callback
    thread, which the audio never waits for (docs/benchmarks.md, "The in latency, in parts").
    The hold for the first subscriber is carried so the figures can leave it out: it is a
    deliberate wait, once per track, not latency. A chunk held back to be merged with the next
    one, or dropped whole as silence, hands nothing over and is not counted.
    """

    held_s: float = 0.0  # spent holding the track's first audio for its first subscriber
    handed_at: float | None = None  # perf_counter() as the first frame went in; None: nothing did
    # audio queued in the source ahead of that frame: it goes out after this, plus up to one
    # 10 ms tick of the source's timer (the part of the room-side latency the bridge decides)
    queued_s: float = 0.0


NOTHING_DELIVERED = Delivery()


def track_name(track_id: int) -> str:
    return WELL_KNOWN_TRACKS.get(track_id) or f"track_{track_id}"


class OutputTrack:
    """One named AudioSource + LocalAudioTrack, published lazily, one writer at a time."""

    def __init__(self, room: rtc.Room, track_id: int, options: TrackOptions) -> None:
        self.track_id = track_id
        self.name = track_name(track_id)
        self._room = room
        self._queue_ms = options.queue_ms
        self._min_samples = samples_per_ms(ROOM_RATE, options.min_frame_ms)
        self._max_samples = samples_per_ms(ROOM_RATE, options.max_frame_ms)
        self._first_audio_wait_s = options.first_audio_wait_s
        self._catch_up_s = options.catch_up_ms / 1000
        self._publish_bitrate = options.publish_bitrate
        self._red, self._dtx = options.red, options.dtx
        self._quiet_s = options.quiet_ms / 1000
        self._last_loud = 0.0  # loop time of the last loud frame captured
        self._watch: asyncio.Task[None] | None = None  # parks the track after a quiet spell
        self.parked = False  # unpublished after a quiet spell, until the next loud audio
        self.parks = 0  # quiet spells that unpublished this track
        self._source: rtc.AudioSource | None = None
        self._track: rtc.LocalAudioTrack | None = None
        self._publication: rtc.LocalTrackPublication | None = None
        self._held_first_audio = False
        self._pending = np.zeros(0, dtype=np.int16)
        self.lock = asyncio.Lock()
        self.level = LevelMeter()  # what this track sends to the room (admin figures)

    @property
    def sid(self) -> str:
        """The publication's sid as the SDK has it now ("" while unpublished): the SDK renames a
        publication it republishes after a full reconnect, in place."""
        return self._publication.sid if self._publication is not None else ""

    @property
    def published(self) -> bool:
        return self._track is not None

    @property
    def queued_ms(self) -> int:
        return int(self._source.queued_duration * 1000) if self._source else 0

    async def _publish(self) -> rtc.AudioSource:
        source = rtc.AudioSource(ROOM_RATE, 1, queue_size_ms=self._queue_ms)
        track = rtc.LocalAudioTrack.create_audio_track(self.name, source)
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_MICROPHONE, red=self._red, dtx=self._dtx
        )
        if self._publish_bitrate:
            options.audio_encoding.max_bitrate = self._publish_bitrate
        try:
            publication = await self._room.local_participant.publish_track(track, options)
        except BaseException:
            await source.aclose()
            raise
        self._source, self._track, self._publication = source, track, publication
        self.parked = False
        self._last_loud = asyncio.get_running_loop().time()
        if self._quiet_s > 0 and self._watch is None:
            self._watch = asyncio.get_running_loop().create_task(
                self._park_when_quiet(), name=f"quiet-track:{self.name}"
            )
        log.info("track %s published (sid %s)", self.name, publication.sid)
        return source

    async def _park_when_quiet(self) -> None:
        """Unpublish the track and close its source once nothing loud went out for the spell.

        It waits for the lock, so a playback (which holds it throughout) or a capture under way
        is never cut. What is still queued then is silence: `_last_loud` is when the last loud
        frame began to play (its capture time plus the queue ahead of it). An empty queue is not
        asked for: a cloud that streams silence keeps about a chunk queued most of the time, and
        a watcher waiting for the instant it is empty parked such a track late or never.
        """
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(max(0.05, self._last_loud + self._quiet_s - loop.time()))
                async with self.lock:
                    source = self._source
                    if source is None:
                        return
                    quiet = loop.time() - self._last_loud
                    if quiet >= self._quiet_s:
                        await self._park(quiet)
                        return
        finally:
            self._watch = None

    async def _park(self, quiet_s: float) -> None:
        sid, source = self.sid, self._source
        self._source, self._track, self._publication = None, None, None
        self._held_first_audio = False  # the next publication's audio waits for its subscriber
        self.parked = True
        self.parks += 1
        try:
            await self._room.local_participant.unpublish_track(sid)
        except Exception as exc:  # a lost room takes the publication with it anyway
            log.warning("track %s: unpublish after a quiet spell failed: %s", self.name, exc)
        if source is not None:
            await source.aclose()
        log.info("track %s parked after %.1f s quiet (sid %s)", self.name, quiet_s, sid)

    async def _wait_first_subscriber(self, publication: rtc.LocalTrackPublication) -> float:
        """Hold a new publication's first audio until the phone subscribes, so first words are
        heard; at most `first_audio_wait_s`, once per publication.

        The wait is the SDK's `LocalTrackPublication.wait_for_subscription()` (livekit 1.2.1),
        which serves this hold as it is:
        - each publication creates its own future, unset, and the room's event task sets it at
          the publication's first `local_track_subscribed` (room.py), in this loop: nothing of
          ours needs to listen for the event or match sids;
        - it cannot miss a subscription that comes early: the room's event task handles the
          next event only once `publish_track` has registered the publication (it waits for
          the publish callback to be taken), so the subscription always finds its future;
        - it is armed again where the hold must be: a parked track is published anew, and the
          new publication has a future of its own (`_held_first_audio` is reset with it);
        - it is shielded, so the timeout here ends this wait only, never the SDK's future.
        A publication the SDK republishes after a full reconnect keeps its set future; its
        first audio went out long before, and nothing held it then either.
        Returns the seconds spent holding (0 after the first time).
        """
        if self._held_first_audio:
            return 0.0
        self._held_first_audio = True
        if self._first_audio_wait_s <= 0:
            return 0.0
        started = asyncio.get_running_loop().time()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._first_audio_wait_s):
                await publication.wait_for_subscription()
        return asyncio.get_running_loop().time() - started

    async def write(self, samples: Int16Array) -> Delivery:
        """Queue streamed 16 kHz mono samples in frames of min..max ms; a remainder waits."""
        if len(self._pending):
            samples = np.concatenate([self._pending, samples])
        if len(samples) < self._min_samples:
            self._pending = samples
            return NOTHING_DELIVERED
        self._pending = np.zeros(0, dtype=np.int16)
        async with self.lock:
            return await self._capture(samples, catch_up=True)

    async def flush(self) -> None:
        """Capture what `write` held back because it was shorter than a frame."""
        pending, self._pending = self._pending, np.zeros(0, dtype=np.int16)
        if len(pending):
            async with self.lock:
                await self._capture(pending, catch_up=True)

    async def _capture(self, samples: Int16Array, *, catch_up: bool) -> Delivery:
        frames = list(_split(samples, self._max_samples))
        if self.parked and catch_up:
            # streamed silence does not wake a parked track: its first loud frame does
            while frames and _silent(frames[0]):
                frames.pop(0)
            if not frames:
                return NOTHING_DELIVERED
        source = self._source or await self._publish()
        assert self._publication is not None  # published above, or earlier
        held = await self._wait_first_subscriber(self._publication)
        handed_at: float | None = None
        queued = 0.0
        loop = asyncio.get_running_loop()
        for frame in frames:
            # two numpy reductions a frame: only where a catch-up or a quiet spell needs them
            if catch_up and source.queued_duration > self._catch_up_s and _silent(frame):
                continue
            if self._quiet_s > 0 and not _silent(frame):
                self._last_loud = loop.time() + source.queued_duration
            self.level.add(frame)
            audio = rtc.AudioFrame(to_bytes(frame), ROOM_RATE, 1, len(frame))
            if handed_at is None:
                queued = source.queued_duration
                handed_at = time.perf_counter()
            await source.capture_frame(audio)
        return Delivery(held, handed_at, queued)

    async def play(self, samples: Int16Array) -> None:
        """Capture one playback frame whole (no catch-up skip), under the lock like every writer:
        taken here, so playback calls down into the track and never reaches into its lock."""
        async with self.lock:
            await self._capture(samples, catch_up=False)

    def clear(self) -> None:
        """Drop queued audio at once: how an interrupted playback falls silent within ms."""
        self._pending = np.zeros(0, dtype=np.int16)
        if self._source is not None:
            self._source.clear_queue()

    async def aclose(self) -> None:
        """Release the native source; the room's disconnect takes the publication with it."""
        if self._watch is not None:
            self._watch.cancel()
            # gather, not suppress(CancelledError): a cancel of the caller itself stays raised
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None
        if self._source is not None:
            self._source.clear_queue()
            await self._source.aclose()
            self._source = None


SILENCE_PEAK = 64  # about -54 dBFS: what an encoder's comfort noise and dither stay under


def _silent(frame: Int16Array) -> bool:
    return len(frame) == 0 or (int(frame.max()) < SILENCE_PEAK and int(frame.min()) > -SILENCE_PEAK)


def _split(samples: Int16Array, size: int) -> Iterator[Int16Array]:
    for start in range(0, len(samples), size):
        yield samples[start : start + size]


class TrackSet:
    """A session's output tracks by track_id, created on first use and kept for reuse."""

    def __init__(self, room: rtc.Room, options: TrackOptions) -> None:
        self._room = room
        self._options = options
        self._tracks: dict[int, OutputTrack] = {}

    def __len__(self) -> int:
        return len(self._tracks)

    def __iter__(self) -> Iterator[OutputTrack]:
        return iter(list(self._tracks.values()))

    def get(self, track_id: int) -> OutputTrack:
        track = self._tracks.get(track_id)
        if track is None:
            track = OutputTrack(self._room, track_id, self._options)
            self._tracks[track_id] = track
        return track

    def queued_ms(self, track_id: int) -> int:
        """Audio queued in that track's source (0 for a track not made yet): creates nothing."""
        track = self._tracks.get(track_id)
        return track.queued_ms if track is not None else 0

    def names(self) -> list[str]:
        return [t.name for t in self._tracks.values() if t.published]

    async def aclose(self) -> None:
        for track in self._tracks.values():
            with contextlib.suppress(Exception):
                await track.aclose()
        self._tracks.clear()

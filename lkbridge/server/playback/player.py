"""PlayAudio: fetch -> decode -> resample -> gain -> a named track, with events.

One `Playback` per request, driven by one task; the decoder runs in its own thread. Events go to
the RPC through a queue: STARTED when the first frame is captured, PROGRESS every interval
(position = what was played out, not what was queued), then COMPLETED once the source's queue
has drained (the phone has heard it all), or FAILED with the reason. Every interrupt goes
through `stop()`, which clears the source's queue, so the audio falls silent at once.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.audio import ROOM_RATE
from lkbridge.audio.pcm import Int16Array, apply_gain
from lkbridge.errors import DecodeError, FetchError
from lkbridge.server.playback.decoded_url import DecodedUrl
from lkbridge.server.policy.playback_url import FetchPolicy
from lkbridge.server.redact import clip
from lkbridge.server.rtc.tracks import OutputTrack

log = logging.getLogger(__name__)

EventType = pb.PlayAudioEvent.EventType
FRAME_SAMPLES = ROOM_RATE // 10  # 100 ms frames: few FFI round trips, steady progress


class PlaybackState(enum.Enum):
    PENDING = "pending"
    PLAYING = "playing"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class PlayRequest:
    request_id: str
    url: str
    volume: float
    track_id: int


def gain_of(volume: float) -> float:
    """proto3's default 0 means full volume (the cloud relies on it); otherwise a gain."""
    if volume == 0 or volume != volume:  # 0 or NaN
        return 1.0
    return max(0.0, float(volume))


class Playback:
    def __init__(
        self,
        request: PlayRequest,
        track: OutputTrack,
        policy: FetchPolicy,
        progress_interval_s: float = 0.25,
    ) -> None:
        self.request = request
        self.track = track
        self._policy = policy
        self._progress_s = progress_interval_s
        self.events: asyncio.Queue[pb.PlayAudioEvent] = asyncio.Queue()
        self.state = PlaybackState.PENDING
        self.samples_written = 0
        self.started_at = 0.0
        self.first_capture_at = 0.0
        self.duration_ms: int | None = None
        self._position_ms = 0
        self._stop_reason: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._media: DecodedUrl | None = None
        self._last_progress = 0.0

    @property
    def request_id(self) -> str:
        return self.request.request_id

    @property
    def done(self) -> bool:
        return self.state in (PlaybackState.COMPLETED, PlaybackState.FAILED)

    @property
    def position_ms(self) -> int:
        """What the phone has heard: written minus what still waits in the source's queue.

        The queue length is the SDK's estimate, which can step back by a few ms right after a
        capture; the position reported never does.
        """
        written_ms = self.samples_written * 1000 // ROOM_RATE
        if self.state is PlaybackState.COMPLETED:
            heard = written_ms
        else:
            heard = max(0, written_ms - self.track.queued_ms)
        self._position_ms = max(self._position_ms, heard)
        return self._position_ms

    def start(self, on_done: Callable[[Playback], None] | None = None) -> None:
        self.started_at = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"playback:{self.request_id}"
        )
        self._task.add_done_callback(lambda _: self._ended(on_done))

    def _ended(self, on_done: Callable[[Playback], None] | None) -> None:
        """Every playback ends with an event: a task cancelled before its first step (a
        StopAudio or a replacement in the same loop turn as the PlayAudio) never ran `_run`,
        so nothing else would say why, and its call would wait for an event forever."""
        if not self.done:
            self._fail(f"stopped: {self._stop_reason or 'cancelled'}")
        if on_done is not None:
            on_done(self)

    async def events_until_done(self) -> AsyncIterator[pb.PlayAudioEvent]:
        while True:
            event = await self.events.get()
            yield event
            if event.type in (EventType.COMPLETED, EventType.FAILED):
                return

    def stop(self, reason: str) -> bool:
        """Interrupt: silence at once, FAILED "stopped: <reason>". False if already over."""
        if self.done or self._stop_reason is not None:
            return False
        self._stop_reason = reason
        self.track.clear()
        if self._media is not None:
            self._media.abort()
        if self._task is not None:
            self._task.cancel()
        return True

    async def wait(self) -> None:
        """Until the playback task has ended; a cancel of the caller itself still raises."""
        if self._task is not None:
            await asyncio.wait({self._task})

    # -- the playback task -----------------------------------------------------------------------

    def _emit(self, kind: int, *, error: str = "") -> None:
        self.events.put_nowait(
            pb.PlayAudioEvent(
                type=kind,  # type: ignore[arg-type]
                request_id=self.request_id,
                duration_ms=self.duration_ms or 0,
                position_ms=self.position_ms,
                error=error,
                metadata={"track": self.track.name},
            )
        )

    def _maybe_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_progress >= self._progress_s:
            self._last_progress = now
            self._emit(EventType.PROGRESS)

    async def _run(self) -> None:
        try:
            await self._play()
            self.state = PlaybackState.COMPLETED
            self.duration_ms = self.samples_written * 1000 // ROOM_RATE
            self._emit(EventType.COMPLETED)
            log.info("playback %s completed (%d ms)", self.request_id, self.duration_ms)
        except asyncio.CancelledError:
            self._fail(f"stopped: {self._stop_reason or 'cancelled'}")
        except (FetchError, DecodeError) as exc:
            self._fail(str(exc))
        except Exception as exc:
            log.exception("playback %s failed", self.request_id)
            self._fail(f"internal error: {exc!r}")

    def _fail(self, error: str) -> None:
        if self.state is PlaybackState.PLAYING:
            self.track.clear()
        self.state = PlaybackState.FAILED
        log.info("playback %s failed: %s", self.request_id, clip(error, 400))
        self._emit(EventType.FAILED, error=error)

    async def _play(self) -> None:
        async with DecodedUrl(self.request.url, self._policy) as media:
            self._media = media
            gain = gain_of(self.request.volume)
            async for samples in media.chunks():
                if media.duration_ms and not self.duration_ms:
                    self.duration_ms = media.duration_ms
                await self._write(apply_gain(samples, gain))
            await self._drain()

    async def _write(self, samples: Int16Array) -> None:
        for start in range(0, len(samples), FRAME_SAMPLES):
            frame = samples[start : start + FRAME_SAMPLES]
            await self.track.play(np.ascontiguousarray(frame))
            self.samples_written += len(frame)
            if self.state is PlaybackState.PENDING:
                self.state = PlaybackState.PLAYING
                self.first_capture_at = time.monotonic()
                self._last_progress = self.first_capture_at
                self._emit(EventType.STARTED)
            else:
                self._maybe_progress()

    async def _drain(self) -> None:
        """COMPLETED means heard: wait for the source's queue to empty, with PROGRESS."""
        while self.track.queued_ms > 0:
            await asyncio.sleep(min(self._progress_s, max(self.track.queued_ms / 1000, 0.01)))
            self._maybe_progress()

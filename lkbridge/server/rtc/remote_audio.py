"""Remote audio tracks read through the SDK's AudioStream: the one pair of `track_subscribed` /
`track_unsubscribed` handlers, shared by the bridge's track forwarding
(room_to_client/track_forwarding.py) and the simulated device (devstack/device.py).

One reader task per subscribed remote audio track. The SDK's AudioStream does not always end when
its track goes away, so an unsubscribed track has its reader cancelled and then its stream
closed, in a task of its own (room callbacks must not wait); `aclose()` does the same for all
that remain. What a reader does with the frames is its owner's business: this module knows no
outbox and no recording.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from livekit import rtc

Reader = Callable[[rtc.AudioStream], Coroutine[Any, Any, None]]
# what to do with a newly subscribed audio track: its reader, or None to leave it unread
ReaderFor = Callable[[rtc.Track, rtc.RemoteTrackPublication, rtc.RemoteParticipant], Reader | None]


class RemoteAudioReaders:
    """Remote audio tracks being read, by publication sid; its two methods are the room's
    `track_subscribed` and `track_unsubscribed` callbacks."""

    def __init__(
        self,
        owner: str,
        verb: str,
        reader_for: ReaderFor,
        sample_rate: int,
        frame_size_ms: int | None = None,
    ) -> None:
        self._owner = owner  # task names: "<verb>-track:<owner>:<sid>"
        self._verb = verb
        self._reader_for = reader_for
        self._sample_rate = sample_rate
        self._frame_size_ms = frame_size_ms
        self._readers: dict[str, tuple[rtc.AudioStream, asyncio.Task[None]]] = {}
        self._closers: set[asyncio.Task[None]] = set()  # streams of unsubscribed tracks

    @property
    def tasks(self) -> int:
        """Readers and closers alive: 0 once every track is released."""
        return len(self._readers) + len(self._closers)

    def on_track_subscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO:
            return
        read = self._reader_for(track, publication, participant)
        if read is None:
            return
        sid = publication.sid
        stream = rtc.AudioStream.from_track(
            track=track,
            sample_rate=self._sample_rate,
            num_channels=1,
            frame_size_ms=self._frame_size_ms,
        )
        task = asyncio.get_running_loop().create_task(
            read(stream), name=f"{self._verb}-track:{self._owner}:{sid}"
        )
        self._readers[sid] = (stream, task)

    def on_track_unsubscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        entry = self._readers.pop(publication.sid, None)
        if entry is not None:
            stream, task = entry
            task.cancel()
            closer = asyncio.get_running_loop().create_task(
                _close_stream(stream, task), name=f"close-track:{self._owner}:{publication.sid}"
            )
            self._closers.add(closer)
            closer.add_done_callback(self._closers.discard)

    async def aclose(self) -> None:
        readers = list(self._readers.values())  # an unsubscribe may come meanwhile
        self._readers.clear()
        for stream, task in readers:
            task.cancel()
            with contextlib.suppress(Exception):
                await stream.aclose()
        await asyncio.gather(*(t for _, t in readers), *self._closers, return_exceptions=True)


async def _close_stream(stream: rtc.AudioStream, reader: asyncio.Task[None]) -> None:
    """Release an unsubscribed track's stream once its reader has stopped reading it."""
    await asyncio.wait({reader})
    with contextlib.suppress(Exception):
        await stream.aclose()

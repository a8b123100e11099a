"""Room -> client, the optional path (`--forward-tracks`): the target's audio tracks, read at the
room rate, into the session's outbox beside its data packets.

The SDK side (one reader per subscribed remote audio track, and releasing its stream) is the SDK
adapter's `RemoteAudioReaders` (rtc/remote_audio.py), which the simulated device shares; this
module only decides whose tracks are read and where their frames go.
"""

from __future__ import annotations

import numpy as np
from livekit import rtc

from lkbridge.audio import ROOM_RATE
from lkbridge.server.room_to_client.outbox import Outbox
from lkbridge.server.rtc.remote_audio import Reader, RemoteAudioReaders


class TrackForwarding:
    """The target's audio tracks (everyone's without a target) into one session's outbox."""

    def __init__(self, user_id: str, target_identity: str, outbox: Outbox, frame_ms: int) -> None:
        self._target_identity = target_identity
        self._outbox = outbox
        self.readers = RemoteAudioReaders(user_id, "forward", self._reader_for, ROOM_RATE, frame_ms)

    def _reader_for(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> Reader | None:
        if self._target_identity and participant.identity != self._target_identity:
            return None
        return self._forward

    async def _forward(self, stream: rtc.AudioStream) -> None:
        async for event in stream:
            data = np.frombuffer(event.frame.data, dtype=np.int16)
            self._outbox.put(data.tobytes())

    async def aclose(self) -> None:
        await self.readers.aclose()

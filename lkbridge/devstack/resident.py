"""The dev stack's own device: joined at start, speaking its test signal, rejoined when pushed out.

LiveKit keeps one participant per identity: anyone who joins dev-room as `device` (livekit-cli,
a script, an old `lkbridge device`) pushes the stack's device out, and the dev session then hears
nothing. The stack says so on its terminal, waits until the identity is free again, joins again
and says that too; no restart needed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from livekit import api, rtc

from lkbridge.audio.pcm import Int16Array
from lkbridge.devstack.device import DevicePeer
from lkbridge.tokens import mint_token

POLL_S = 1.0  # how often a pushed-out device looks whether its identity is free again


class ResidentDevice:
    """One identity in one room, held for the stack's lifetime. Build it inside the loop."""

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        room: str,
        identity: str,
        samples: Int16Array,
        say: Callable[[str], None],
    ) -> None:
        self._url = url
        self._key = api_key
        self._secret = api_secret
        self.room = room
        self.identity = identity
        self._samples = samples
        self._say = say
        self.peer: DevicePeer | None = None
        self._left = asyncio.Event()
        self._reason = ""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join (a failure raises, as at the stack's start) and speak until `aclose()`."""
        await self._join()
        self._task = asyncio.get_running_loop().create_task(self._hold())

    async def _join(self) -> None:
        token = mint_token(self._key, self._secret, self.room, self.identity)
        peer = DevicePeer(self._url, token, keep_audio=False)
        left = asyncio.Event()

        def on_disconnected(reason: rtc.DisconnectReason.ValueType) -> None:
            self._reason = rtc.DisconnectReason.Name(reason) if reason else "unknown reason"
            left.set()

        peer.room.on("disconnected", on_disconnected)
        try:
            await peer.connect()
        except BaseException:
            await peer.aclose()
            raise
        self.peer, self._left = peer, left

    async def _hold(self) -> None:
        while True:
            peer = self.peer
            assert peer is not None
            speaker = asyncio.get_running_loop().create_task(self._speak(peer))
            left = asyncio.get_running_loop().create_task(self._left.wait())
            await asyncio.wait({speaker, left}, return_when=asyncio.FIRST_COMPLETED)
            if not left.done():  # the speaker failed first: its room is going, or gone
                await asyncio.wait({left}, timeout=2.0)
            for task in (speaker, left):
                task.cancel()
            await asyncio.gather(speaker, left, return_exceptions=True)
            why = self._reason or "it stopped speaking"
            pushed = (
                f": another participant joined as {self.identity!r}"
                if why == "DUPLICATE_IDENTITY"
                else ""
            )
            self._say(
                f"the stack's device {self.identity!r} left {self.room} ({why}){pushed}; "
                "it joins again once that identity is free"
            )
            self.peer = None
            await peer.aclose()
            await self._rejoin()
            self._say(f"the stack's device {self.identity!r} is back in {self.room}")

    async def _speak(self, peer: DevicePeer) -> None:
        """Loop the test signal into the room as the glasses do: 100 ms data packets."""
        while True:
            await peer.send_packets(self._samples, chunk_ms=100)

    async def _rejoin(self) -> None:
        """Wait for the identity to be free (else joining pushes the other one out), join."""
        async with api.LiveKitAPI(self._url, self._key, self._secret) as lk:
            while True:
                await asyncio.sleep(POLL_S)
                try:
                    listed = await lk.room.list_participants(
                        api.ListParticipantsRequest(room=self.room)
                    )
                except Exception:
                    continue
                if any(p.identity == self.identity for p in listed.participants):
                    continue
                self._reason = ""
                try:
                    await self._join()
                except Exception:
                    continue
                return

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # gather, not suppress: a cancel of this very task must still reach its caller
            await asyncio.gather(self._task, return_exceptions=True)
        if self.peer is not None:
            with contextlib.suppress(Exception):
                await self.peer.aclose()

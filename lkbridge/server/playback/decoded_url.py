"""A playback URL as 16 kHz mono chunks: fetch -> sniff the format -> streaming decode.

The download feeds the decoder from a task of its own while the caller consumes decoded
chunks, so playback starts with the first bytes; a download error ends the chunks with that
error (not a decoder one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING

from lkbridge.audio.decode import SNIFF_BYTES, StreamingDecoder, sniff_format
from lkbridge.audio.pcm import Int16Array
from lkbridge.errors import FetchError
from lkbridge.server.policy.playback_url import FetchPolicy

if TYPE_CHECKING:
    from lkbridge.server.playback.download import Download


class DecodedUrl:
    def __init__(self, url: str, policy: FetchPolicy) -> None:
        self.url = url
        self._policy = policy
        self._download: Download | None = None
        self._decoder: StreamingDecoder | None = None
        self._feeder: asyncio.Task[None] | None = None

    @property
    def duration_ms(self) -> int | None:
        """The container's own duration, when it states one."""
        return self._decoder.duration_ms if self._decoder else None

    async def __aenter__(self) -> DecodedUrl:
        from lkbridge.server.playback.download import (
            open_download,  # aiohttp, on the first playback
        )

        try:
            download = self._download = await open_download(self.url, self._policy)
            body = download.chunks()
            head = b""
            async for chunk in body:
                head += chunk
                if len(head) >= SNIFF_BYTES:
                    break
            decoder = self._decoder = StreamingDecoder(sniff_format(head))
        except BaseException:
            await self._release()  # `async with` calls no __aexit__ when this raises
            raise
        self._feeder = asyncio.get_running_loop().create_task(self._feed(decoder, head, body))
        return self

    async def _feed(
        self, decoder: StreamingDecoder, head: bytes, body: AsyncIterator[bytes]
    ) -> None:
        try:
            await decoder.feed(head)
            async for chunk in body:
                await decoder.feed(chunk)
        except FetchError as exc:
            decoder.close(exc)
            raise
        finally:
            decoder.finish()

    async def chunks(self) -> AsyncIterator[Int16Array]:
        assert self._decoder is not None and self._feeder is not None, "use `async with`"
        async for samples in self._decoder.chunks():
            yield samples
        await self._feeder  # a download error that ended the decode early surfaces here

    def abort(self) -> None:
        """Stop decoding at once (an interrupted playback)."""
        if self._decoder is not None:
            self._decoder.close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._feeder is not None:
                if not self._feeder.done():
                    self._feeder.cancel()
                await asyncio.wait({self._feeder})  # a cancel of our own caller still raises
                if not self._feeder.cancelled():
                    self._feeder.exception()  # retrieved (chunks() re-raised it already)
        finally:
            await self._release()

    async def _release(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
        if self._download is not None:
            download, self._download = self._download, None
            await download.aclose()

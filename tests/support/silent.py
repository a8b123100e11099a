"""A TCP host that accepts and never answers: an SFU or a playback server gone silent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest


@dataclass
class Silent:
    """A TCP listener on 127.0.0.1 that accepts and never answers (optionally only for a while:
    connections accepted after `hold_s` are piped to `forward_port`)."""

    port: int = 0
    hold_s: float | None = None
    forward_port: int | None = None
    accepted: int = 0
    _server: asyncio.Server | None = None
    _held: list[asyncio.StreamWriter] = field(default_factory=list)
    _started: float = 0.0

    async def start(self) -> Silent:
        self._started = time.monotonic()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        held = self.hold_s is None or time.monotonic() - self._started < self.hold_s
        if held or self.forward_port is None:
            self._held.append(writer)
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.forward_port)
        self._held += [writer, up_writer]  # closed by stop(), which ends the pipes too

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        """Close every connection it holds or pipes (their handlers end) and the listener."""
        for writer in self._held:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def silent() -> AsyncIterator[Silent]:
    host = await Silent().start()
    yield host
    await host.stop()

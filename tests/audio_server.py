"""A real local HTTP server for playback tests: generated audio fixtures and misbehaving routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from lkbridge.devstack.tonefile import make_tone_file

make_fixture = make_tone_file  # the tests' name for it


class AudioServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = ""
        self.slow_finished_at = 0.0
        self._runner: web.AppRunner | None = None

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/status/{code}", self._status)
        app.router.add_get("/html", self._html)
        app.router.add_get("/empty", self._empty)
        app.router.add_get("/truncated/{name}", self._truncated)
        app.router.add_get("/stall", self._stall)
        app.router.add_get("/mute", self._mute)
        app.router.add_get("/loop", self._loop)
        app.router.add_get("/redirect/{name}", self._redirect)
        app.router.add_get("/slow/{name}", self._slow)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _file(self, request: web.Request) -> web.StreamResponse:
        path = self.root / request.match_info["name"]
        if not path.exists():
            raise web.HTTPNotFound()
        # a misleading type and no suffix check: the bridge must sniff the bytes
        return web.Response(body=path.read_bytes(), content_type="application/octet-stream")

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="nope")

    async def _html(self, request: web.Request) -> web.Response:
        return web.Response(
            text="<!DOCTYPE html><html><body>login</body></html>", content_type="audio/mpeg"
        )

    async def _empty(self, request: web.Request) -> web.Response:
        return web.Response(body=b"", content_type="audio/mpeg")

    async def _truncated(self, request: web.Request) -> web.StreamResponse:
        data = (self.root / request.match_info["name"]).read_bytes()
        response = web.StreamResponse(headers={"Content-Length": str(len(data))})
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        request.transport.close()  # type: ignore[union-attr]
        return response

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"ID3\x04\x00\x00\x00\x00\x00\x00")
        await asyncio.sleep(60)
        return response

    async def _mute(self, request: web.Request) -> web.StreamResponse:
        """Accepts the request and never answers it: no status line, no headers."""
        await asyncio.sleep(60)
        return web.StreamResponse()

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        """The file trickled over about 4 s: playback must start long before the end."""
        data = (self.root / request.match_info["name"]).read_bytes()
        response = web.StreamResponse(headers={"Content-Length": str(len(data))})
        await response.prepare(request)
        step = max(1, len(data) // 40)
        for start in range(0, len(data), step):
            await response.write(data[start : start + step])
            await asyncio.sleep(0.1)
        self.slow_finished_at = asyncio.get_running_loop().time()
        return response

    async def _loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/files/{request.match_info['name']}")


async def serve(root: Path) -> AsyncIterator[AudioServer]:
    server = AudioServer(root)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()

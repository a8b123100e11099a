"""Serve one local file over HTTP so the bridge can fetch it (`lkbridge play ./file.mp3`)."""

from __future__ import annotations

import functools
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class OneFileServer:
    """A background HTTP server for the folder of `path`; `url` points at the file."""

    def __init__(self, path: Path, host: str = "127.0.0.1") -> None:
        handler = functools.partial(_QuietHandler, directory=str(path.parent))
        self._server = ThreadingHTTPServer((host, 0), handler)
        port = self._server.server_address[1]
        self.url = f"http://{host}:{port}/{urllib.parse.quote(path.name)}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lkbridge-fileserver", daemon=True
        )

    def __enter__(self) -> OneFileServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

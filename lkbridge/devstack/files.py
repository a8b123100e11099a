"""A small HTTP file server in a background thread, so the bridge can fetch local files.

`lkbridge dev` runs one beside its bridge (inside the network namespace, where the bridge can
reach it) on its state directory's `files/`; `lkbridge play USER ./file` links the file there.
"""

from __future__ import annotations

import functools
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def list_directory(self, path: Any) -> None:
        self.send_error(404, "not found")  # a file's name must be known to fetch it


class FileServer:
    """Serves `directory` on `host` (port 0: a free one) until `close()`."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self._server = ThreadingHTTPServer((host, port), handler)  # OSError when host is wrong
        self.base_url = f"http://{host}:{self._server.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lkbridge-files", daemon=True
        )

    def url_of(self, name: str) -> str:
        return self.base_url + urllib.parse.quote(name)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""Serve one local file over HTTP so the bridge can fetch it (`lkbridge play USER ./file.mp3`)."""

from __future__ import annotations

from pathlib import Path

from lkbridge.devstack.files import FileServer


class OneFileServer(FileServer):
    """A server for the folder of `path`; `url` points at the file."""

    def __init__(self, path: Path, host: str = "127.0.0.1") -> None:
        super().__init__(path.parent, host)
        self.url = self.url_of(path.name)

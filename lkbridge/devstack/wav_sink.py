"""What the simulated device hears, written to WAV files as it arrives.

A recording may run for hours (`lkbridge device --record`), so nothing is kept beyond one flush
interval of samples per track, and the header's two sizes are rewritten at every flush: a
process killed mid-way leaves a file that plays up to its last flush (at most `flush_s` seconds
lost), not a header that claims zero bytes. The in-memory `TrackRecording` stays what the tests
and benchmarks judge; this is its counterpart for files, used instead of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from lkbridge.audio.pcm import Int16Array

HEADER_BYTES = 44
_MAX_DATA_BYTES = 0xFFFFFFFF - (HEADER_BYTES - 8)  # a RIFF size is 32 bits


def wav_header(rate: int, data_bytes: int) -> bytes:
    """The canonical 44-byte header of a PCM16 mono WAV holding `data_bytes`."""
    return (
        b"RIFF" + struct.pack("<I", HEADER_BYTES - 8 + data_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data" + struct.pack("<I", data_bytes)
    )  # fmt: skip


class WavSink:
    """One track's WAV file, written as frames arrive; `close()` it.

    Write errors (a full disk) never reach the caller, a track reader that must not die: the
    first one is kept in `error`, later audio is dropped, and `broken` is set so the owner can
    stop and say it.
    """

    def __init__(
        self,
        path: Path,
        rate: int,
        *,
        flush_s: float = 1.0,
        broken: asyncio.Event | None = None,
    ) -> None:
        self.path = path
        self.rate = rate
        self.error: str | None = None
        self.written_bytes = 0  # on disk, under the header's sizes
        self.peak_pending_bytes = 0  # the most ever held in memory at once
        self._flush_bytes = max(2, round(rate * flush_s) * 2)
        self._pending = bytearray()
        self._sum_squares = 0.0
        self._broken = broken
        self._file: BinaryIO | None = None
        try:
            self._file = path.open("wb")
            self._file.write(wav_header(rate, 0))
        except OSError as exc:
            self._fail(exc)

    @property
    def seconds(self) -> float:
        return (self.written_bytes + len(self._pending)) / 2 / self.rate

    @property
    def dbfs(self) -> float | None:
        """Level of everything written so far, kept as a running sum (no samples are kept)."""
        count = (self.written_bytes + len(self._pending)) // 2
        if not count:
            return None
        rms = float(np.sqrt(self._sum_squares / count))
        return float(20 * np.log10(rms / 32768.0)) if rms > 0 else float("-inf")

    def write(self, samples: Int16Array) -> None:
        if self._file is None:
            return
        if self.written_bytes + len(self._pending) + samples.nbytes > _MAX_DATA_BYTES:
            self._fail(OSError("the WAV format's 4 GiB limit is reached"))
            return
        self._pending += samples.tobytes()
        self._sum_squares += float(np.dot(samples, samples.astype(np.float64)))
        self.peak_pending_bytes = max(self.peak_pending_bytes, len(self._pending))
        if len(self._pending) >= self._flush_bytes:
            self.flush()

    def flush(self) -> None:
        """Append what is held and rewrite the header's sizes to cover it."""
        file = self._file
        if file is None:
            return
        try:
            file.write(self._pending)
            self.written_bytes += len(self._pending)
            self._pending.clear()
            file.seek(4)
            file.write(struct.pack("<I", HEADER_BYTES - 8 + self.written_bytes))
            file.seek(HEADER_BYTES - 4)
            file.write(struct.pack("<I", self.written_bytes))
            file.seek(0, 2)
            file.flush()
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        self.flush()
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        if self.error is None:
            self.error = f"cannot write {self.path}: {exc.strerror or exc}"
        self._pending.clear()
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
        if self._broken is not None:
            self._broken.set()


class TrackFiles:
    """One WavSink per track name, opened when the track is first heard; a track heard again
    after an unsubscribe goes on in its own file rather than starting it over, and a second
    publisher of the same name (two bridge sessions' `speaker`) gets a file of its own."""

    def __init__(self, path_for: Callable[[str], Path], rate: int, flush_s: float = 1.0) -> None:
        self.sinks: dict[str, WavSink] = {}
        self.publishers: dict[str, str] = {}
        self.broken = asyncio.Event()  # set on the first write error
        self._path_for = path_for
        self._rate = rate
        self._flush_s = flush_s

    def sink_for(self, track: str, publisher: str) -> WavSink:
        """The device's `record_to`: runs in the room's callback, so it only opens a file."""
        label = track
        if self.publishers.get(track, publisher) != publisher:
            label = f"{track}.{publisher}"  # a second publisher of the name: a file of its own
        sink = self.sinks.get(label)
        if sink is None:
            sink = WavSink(self._path_for(label), self._rate, flush_s=self._flush_s,
                           broken=self.broken)  # fmt: skip
            self.sinks[label] = sink
        self.publishers[label] = publisher
        return sink

    @property
    def error(self) -> str | None:
        return next((s.error for s in self.sinks.values() if s.error is not None), None)

    def close(self) -> None:
        for sink in self.sinks.values():
            sink.close()

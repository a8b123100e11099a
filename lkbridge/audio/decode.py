"""Streaming decode of fetched audio with PyAV (ffmpeg's decoders, shipped in the wheel).

Bytes go in as they download; 16 kHz mono PCM16 comes out before the download ends. Decoding
runs in a named thread fed through a blocking pipe (PyAV reads synchronously); decoded chunks
reach the event loop through a bounded asyncio queue, `None` marking the end (aiortc's
MediaPlayer pattern). The format is detected from the first bytes, never from the URL or the
Content-Type, which lie.

PyAV (about 22 MB of libraries) is imported on the first decode, not with this module: a bridge
that never plays a URL never maps it (bench/idle_rss.py).
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from lkbridge.audio import ROOM_RATE
from lkbridge.audio.mp3info import EncoderPadding, TagWindow, parse_gapless
from lkbridge.audio.pcm import Int16Array
from lkbridge.audio.resample import MonoResampler
from lkbridge.errors import DecodeError

if TYPE_CHECKING:
    import av.audio.frame

log = logging.getLogger(__name__)


SNIFF_BYTES = 12
MAX_DAMAGED_PACKETS = 4  # in a row: a join or a glitch costs one or two, garbage many


def sniff_format(head: bytes) -> str:
    """The PyAV demuxer for these first bytes. Raises DecodeError for what is not audio."""
    if len(head) < 4:
        raise DecodeError(
            "not audio: the response body is empty"
            if not head
            else "not audio: the response body is too short"
        )
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3":
        return "mp3"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[4:8] == b"ftyp":
        return "mov"
    if head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "aac" if head[1] & 0x06 == 0 else "mp3"
    text = head.lstrip().lower()
    if text.startswith((b"<!doc", b"<html", b"<?xml", b"<head", b"<body")):
        raise DecodeError("not audio: the server sent an HTML/XML page")
    if text.startswith((b"{", b"[")):
        raise DecodeError("not audio: the server sent JSON")
    raise DecodeError(f"not audio: unrecognised format (first bytes {head[:8].hex()})")


class _Pipe(io.RawIOBase):
    """A blocking, non-seekable byte pipe: the loop writes, the decode thread reads."""

    def __init__(self, high_water: int) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._closed = False
        self._cond = threading.Condition()
        self.high_water = high_water

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        with self._cond:
            while not self._buffer and not self._eof and not self._closed:
                self._cond.wait()
            if self._closed:
                raise OSError("decoder closed")
            n = min(len(target), len(self._buffer))
            target[:n] = self._buffer[:n]
            del self._buffer[:n]
            self._cond.notify_all()
            return n

    def feed(self, data: bytes) -> None:
        with self._cond:
            self._buffer.extend(data)
            self._cond.notify_all()

    def buffered(self) -> int:
        with self._cond:
            return len(self._buffer)

    def finish(self) -> None:
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class StreamingDecoder:
    """One decode of one file. Use from the event loop: `feed`/`finish`, then `chunks()`."""

    def __init__(self, fmt: str, *, out_rate: int = ROOM_RATE, max_chunks: int = 32) -> None:
        self.format = fmt
        self._out_rate = out_rate
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Int16Array | BaseException | None] = asyncio.Queue(max_chunks)
        self._pipe = _Pipe(high_water=256 * 1024)
        self._stopped = threading.Event()
        self.duration_ms: int | None = None  # from the container, when it says
        self._tag = TagWindow()  # an MP3's first frame, for its gapless figures (mp3info.py)
        self._thread = threading.Thread(target=self._run, name=f"decode-{fmt}", daemon=True)
        self._thread.start()

    async def feed(self, data: bytes) -> None:
        """Hand downloaded bytes to the decoder; waits while it is far behind (backpressure)."""
        if self.format == "mp3":
            self._tag.feed(data)  # before the decode thread can read it
        self._pipe.feed(data)
        # the reader is a thread: polling is simpler than waking the loop from it
        while self._pipe.buffered() > self._pipe.high_water and not self._stopped.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    def finish(self) -> None:
        self._pipe.finish()

    async def chunks(self) -> AsyncIterator[Int16Array]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self, error: BaseException | None = None) -> None:
        """Stop the thread wherever it is; `chunks()` then ends, or raises `error`. Idempotent."""
        already = self._stopped.is_set()
        self._stopped.set()
        self._pipe.abort()
        while not self._queue.empty():
            self._queue.get_nowait()
        if not already:
            self._queue.put_nowait(error)

    # -- the decode thread -----------------------------------------------------------------------

    def _put(self, item: Int16Array | BaseException | None) -> None:
        if self._stopped.is_set():
            return
        future = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while not self._stopped.is_set():
            try:
                future.result(timeout=0.1)
                return
            except TimeoutError:
                continue
        future.cancel()

    def _run(self) -> None:
        import av

        try:
            decoded = self._decode()
            if not decoded and not self._stopped.is_set():
                raise DecodeError(f"no audio could be decoded from the {self.format} data")
            self._put(None)
        except DecodeError as exc:
            self._put(exc)
        except (av.FFmpegError, ValueError) as exc:
            self._put(DecodeError(f"undecodable {self.format} audio: {exc}"))
        except OSError as exc:
            if not self._stopped.is_set():
                self._put(DecodeError(f"decoder input failed: {exc}"))

    def _decode(self) -> int:
        import av

        container = av.open(self._pipe, mode="r", format=self.format)
        try:
            if not container.streams.audio:
                raise DecodeError("not audio: no audio stream in the file")
            stream = container.streams.audio[0]
            if container.duration:
                self.duration_ms = int(container.duration // 1000)
            total = 0
            trim = self._encoder_padding() if self.format == "mp3" else None
            for out in _mono_pcm(_frames(container, stream, self.format), self._out_rate, trim):
                if self._stopped.is_set():
                    return total
                total += len(out)
                self._put(out)
            return total
        finally:
            container.close()

    def _encoder_padding(self) -> Callable[[Int16Array], Int16Array]:
        """Cuts an MP3's end padding; reads the tag on first use, once the first frame is
        decoded (so the tag frame before it has been read, and fed to `_tag`)."""
        padding: EncoderPadding | None = None

        def cut(samples: Int16Array) -> Int16Array:
            nonlocal padding
            if padding is None:
                padding = EncoderPadding(parse_gapless(self._tag.window))
            return padding.cut(samples)

        return cut


def _mono_pcm(
    frames: Iterable[av.audio.frame.AudioFrame],
    out_rate: int,
    trim: Callable[[Int16Array], Int16Array] | None = None,
) -> Iterator[Int16Array]:
    """Decoded frames as mono PCM16 at `out_rate` (soxr), `trim` applied at the source rate."""
    import av

    to_s16 = av.AudioResampler(format="s16", layout="mono")
    soxr = MonoResampler(out_rate)
    for frame in frames:
        for mono in to_s16.resample(frame):
            samples = np.asarray(mono.to_ndarray(), dtype=np.int16).reshape(-1)
            if trim is not None:
                samples = trim(samples)
            out = soxr.process(samples, mono.sample_rate, 1)
            if len(out):
                yield out
    tail = soxr.flush()
    if len(tail):
        yield tail


def _frames(container: Any, stream: Any, fmt: str) -> Iterator[av.audio.frame.AudioFrame]:
    """The stream's decoded frames; a damaged packet is skipped, as ffmpeg's own tools do.

    Whole MP3 files joined end to end (each with its ID3 tag) or a few corrupt bytes in a long
    download should not end a playback that can go on. Many damaged packets in a row is a file
    that is not what it claims to be: that fails.
    """
    import av.audio.frame

    damaged = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.InvalidDataError as exc:
            damaged += 1
            if damaged > MAX_DAMAGED_PACKETS:
                why = f"undecodable {fmt} audio: {damaged} damaged packets in a row"
                raise DecodeError(why) from exc
            continue
        if damaged:
            log.warning("skipped %d damaged audio packet(s)", damaged)
            damaged = 0
        for frame in frames:
            assert isinstance(frame, av.audio.frame.AudioFrame)
            yield frame


def decode_file(path: str, out_rate: int = ROOM_RATE) -> Int16Array:
    """A whole local file (any format PyAV reads) as mono PCM16 at `out_rate`."""
    import av

    try:
        container = av.open(path, mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise DecodeError(f"cannot read {path}: {exc}") from None
    parts: list[Int16Array] = []
    try:
        if not container.streams.audio:
            raise DecodeError(f"no audio stream in {path}")
        frames = _frames(container, container.streams.audio[0], container.format.name)
        parts.extend(_mono_pcm(frames, out_rate))
    except av.FFmpegError as exc:
        raise DecodeError(f"undecodable audio in {path}: {exc}") from None
    finally:
        container.close()
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

"""HTTP/2 written frame by frame, for attacks a well-behaved client library refuses to make.

No flow control and no limit of its own: it opens streams past the server's
SETTINGS_MAX_CONCURRENT_STREAMS, sends header blocks of any size, compressed gRPC messages built
once and sent many times, and RST_STREAMs as fast as the socket takes them. Loopback only (the
tests give it a port on 127.0.0.1). Synchronous sockets: callers run it in a thread.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import socket
import struct
import time
from dataclasses import dataclass, field

from hpack import Decoder, Encoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_MAX = 16_384  # the HTTP/2 default SETTINGS_MAX_FRAME_SIZE: header blocks are cut to it
BRIDGE = "/mentra.livekit.bridge.LiveKitBridge/"


def grpc_message(payload: bytes, *, gzipped: bool = False) -> bytes:
    """One length-prefixed gRPC message (compressed flag, 4-byte length, payload)."""
    body = gzip.compress(payload, 9) if gzipped else payload
    return struct.pack(">BI", 1 if gzipped else 0, len(body)) + body


@dataclass
class Answers:
    """What the server said, per stream and for the connection."""

    headers: dict[int, dict[str, str]] = field(default_factory=dict)  # headers and trailers
    resets: dict[int, int] = field(default_factory=dict)  # stream -> RST_STREAM error code
    goaway: int | None = None  # GOAWAY error code
    closed: bool = False  # EOF or a reset connection
    settings_seen: bool = False  # the server's SETTINGS arrived (and were acknowledged)
    settings: dict[int, int] = field(default_factory=dict)  # what they said, by setting id

    def status(self, stream_id: int) -> str | None:
        return self.headers.get(stream_id, {}).get("grpc-status")


class RawH2:
    """One client connection to 127.0.0.1:`port`."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.encoder = Encoder()
        self.decoder = Decoder()
        self.decoder.max_header_list_size = 1 << 30
        self.decoder.max_allowed_table_size = 1 << 20
        self.answers = Answers()
        self._inbox = b""
        self._blocks: dict[int, bytes] = {}
        self.next_id = 1
        self.ack_settings = True  # as a client library does (grpc core enforces its limits after)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def preface(self) -> None:
        """The connection preface and an empty SETTINGS (never an ACK of the server's)."""
        self.send(PREFACE + SettingsFrame(0).serialize())

    def headers(
        self,
        method: str,
        *,
        token: str | None = None,
        encoding: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        end_stream: bool = False,
        stream_id: int | None = None,
    ) -> tuple[int, bytes]:
        """A gRPC call's HEADERS (plus CONTINUATION past 16 KiB) for `method` on a new stream:
        its id and its bytes."""
        sid = stream_id if stream_id is not None else self.take_id()
        fields = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", method if method.startswith("/") else BRIDGE + method),
            (":authority", "127.0.0.1"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
        if token is not None:
            fields.append(("authorization", f"Bearer {token}"))
        if encoding is not None:
            fields.append(("grpc-encoding", encoding))
        fields.extend(extra)
        block = self.encoder.encode(fields, huffman=False)
        pieces = [block[i : i + FRAME_MAX] for i in range(0, len(block), FRAME_MAX)] or [b""]
        first = HeadersFrame(sid, data=pieces[0])
        if end_stream:
            first.flags.add("END_STREAM")
        frames = [first] + [ContinuationFrame(sid, data=p) for p in pieces[1:]]
        frames[-1].flags.add("END_HEADERS")
        return sid, b"".join(f.serialize() for f in frames)

    def take_id(self) -> int:
        sid = self.next_id
        self.next_id += 2
        return sid

    @staticmethod
    def data(stream_id: int, payload: bytes, *, end_stream: bool = True) -> bytes:
        """DATA frames carrying `payload` (cut at 16 KiB)."""
        pieces = [payload[i : i + FRAME_MAX] for i in range(0, len(payload), FRAME_MAX)] or [b""]
        frames = [DataFrame(stream_id, data=p) for p in pieces]
        if end_stream:
            frames[-1].flags.add("END_STREAM")
        return b"".join(f.serialize() for f in frames)

    @staticmethod
    def rst(stream_id: int, code: int = 8) -> bytes:  # 8: CANCEL
        return RstStreamFrame(stream_id, error_code=code).serialize()

    def read(self, seconds: float, until: object = None) -> Answers:
        """Read what arrives for `seconds` (or until `until(answers)` is true, or EOF)."""
        deadline = time.monotonic() + seconds
        while not self.answers.closed and time.monotonic() < deadline:
            if callable(until) and until(self.answers):
                break
            self.sock.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                self.answers.closed = True
                break
            if not chunk:
                self.answers.closed = True
                break
            self._inbox += chunk
            self._parse()
        return self.answers

    def _parse(self) -> None:
        while len(self._inbox) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self._inbox[:9]))
            if len(self._inbox) < 9 + length:
                return
            frame.parse_body(memoryview(self._inbox[9 : 9 + length]))
            self._inbox = self._inbox[9 + length :]
            self._on_frame(frame)

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, (HeadersFrame, ContinuationFrame)):
            block = self._blocks.pop(frame.stream_id, b"") + frame.data
            if "END_HEADERS" not in frame.flags:
                self._blocks[frame.stream_id] = block
                return
            fields = self.answers.headers.setdefault(frame.stream_id, {})
            for name, value in self.decoder.decode(block):
                fields[str(name)] = str(value)
        elif isinstance(frame, RstStreamFrame):
            self.answers.resets[frame.stream_id] = frame.error_code
        elif isinstance(frame, GoAwayFrame):
            self.answers.goaway = frame.error_code
        elif isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
            self.answers.settings_seen = True
            self.answers.settings.update(frame.settings)
            if not self.ack_settings:
                return
            with contextlib.suppress(OSError):
                self.send(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(frame, PingFrame) and "ACK" not in frame.flags:
            ack = PingFrame(0, opaque_data=frame.opaque_data)
            ack.flags.add("ACK")
            with contextlib.suppress(OSError):
                self.send(ack.serialize())


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")

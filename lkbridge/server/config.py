"""Every setting of `lkbridge serve`, in one validated object.

The CLI builds it from flags and environment variables; tests build it directly. `__init__` is
cheap; `load_tls()` reads files only when the server starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lkbridge.server.eventloop import LOOPS
from lkbridge.server.fetch import FetchPolicy
from lkbridge.wire import MAX_MESSAGE_BYTES

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
SdkLogs = Literal["native", "python"]  # where the SDK's native log records go (rtcruntime.py)
SDK_LOGS: tuple[SdkLogs, ...] = ("native", "python")

MIN_BITRATE, MAX_BITRATE = 6_000, 510_000  # what Opus can encode

# What gRPC itself accepts before the bridge sees a message. Above MAX_MESSAGE_BYTES the bridge
# refuses a chunk itself (RESOURCE_EXHAUSTED, the session stays): a message gRPC refuses reaches
# the handler exactly like a client's cancel, which closes the session.
MAX_RECEIVE_BYTES = 2 * MAX_MESSAGE_BYTES
SERVICE_NAME = "mentra.livekit.bridge.LiveKitBridge"
DEFAULT_TRACK_QUIET_MS = 0  # off: each park leaves an idle encoder thread (docs/operations.md)
DEFAULT_PUBLISH_BITRATE = 72_000  # bit/s: the lowest at which Opus codes 16 kHz speech as CELT
# the first line on stdout, once per address: the front, the dev stack and the tests wait for it
LISTENING = "lkbridge listening on "


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None

    def load(self) -> tuple[bytes, bytes, bytes | None]:
        ca = self.client_ca.read_bytes() if self.client_ca else None
        return self.key.read_bytes(), self.cert.read_bytes(), ca


@dataclass(frozen=True)
class BridgeConfig:
    host: str | None = "127.0.0.1"
    port: int | None = 9090
    socket: str | None = None
    socket_mode: int = 0o600
    log_level: str = "info"
    log_format: LogFormat = "text"
    grace_period_s: float = 10.0
    auth_token: str | None = field(default=None, repr=False)
    tls: TlsFiles | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    loop: str = "auto"
    workers: int = 1  # > 1: this process fronts that many session processes (front.py)
    # the SDK's native log records: stderr (RUST_LOG) or Python logging
    sdk_logs: SdkLogs = "native"
    # sessions
    connect_timeout_s: float = 5.0
    idle_timeout_s: float = 300.0
    forward_tracks: bool = False
    # client -> room
    capture_min_ms: int = 20
    capture_max_ms: int = 100
    source_queue_ms: int = 1000
    # drop silent frames while more than this is queued (tracks.TrackOptions.catch_up_ms)
    catch_up_ms: int = 0
    first_audio_wait_s: float = 2.0
    max_track_id: int = 15
    # Opus max bitrate of the published tracks, bit/s; 0: the SDK's default (docs/operations.md)
    # CELT's cost, not SILK's, on speech (docs/operations.md, "Encoder bitrate")
    publish_bitrate: int = DEFAULT_PUBLISH_BITRATE
    # a track with nothing loud for this long is unpublished until its next audio (tracks.py);
    # 0 (the default): tracks stay published (docs/operations.md, "Quiet tracks")
    track_quiet_ms: int = DEFAULT_TRACK_QUIET_MS
    # RED (each packet also carries the previous frame) and DTX (almost nothing sent in pauses)
    # of the published tracks; the SDK's defaults, both on (docs/operations.md, "In the field")
    publish_red: bool = True
    publish_dtx: bool = True
    # room -> client
    outbox_ms: int = 2000
    # playback
    playback_progress_ms: int = 250
    playback_allow_hosts: tuple[str, ...] = ()
    playback_deny_private: bool = False
    playback_max_bytes: int = 50 * 1024 * 1024
    playback_connect_timeout_s: float = 5.0
    playback_read_timeout_s: float = 10.0
    playback_total_timeout_s: float = 300.0
    playback_max_redirects: int = 5
    # after the first bytes: at least this rate over every window (a trickle fails, not hangs)
    playback_min_rate_bytes_per_s: int = 512
    playback_rate_window_s: float = 5.0

    def __post_init__(self) -> None:
        if self.port is None and not self.socket:
            raise ValueError("nothing to listen on: give a TCP port or a Unix socket")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} out of range")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
        if not 10 <= self.capture_min_ms <= self.capture_max_ms <= 1000:
            raise ValueError("capture frame sizes must satisfy 10 <= min <= max <= 1000 ms")
        if not 0 <= self.catch_up_ms <= 1000:
            raise ValueError("catch-up must be between 0 and 1000 ms")
        if not 1 <= self.workers <= 64:
            raise ValueError("workers must be between 1 and 64")
        if self.loop not in LOOPS:
            raise ValueError(f"loop must be one of {', '.join(LOOPS)}")
        if self.sdk_logs not in SDK_LOGS:
            raise ValueError(f"sdk logs must be one of {', '.join(SDK_LOGS)}")
        if self.publish_bitrate and not MIN_BITRATE <= self.publish_bitrate <= MAX_BITRATE:
            raise ValueError(f"publish bitrate must be 0 or {MIN_BITRATE}-{MAX_BITRATE} bit/s")
        if self.track_quiet_ms and not 500 <= self.track_quiet_ms <= 3_600_000:
            raise ValueError("track quiet spell must be 0 or 500-3600000 ms")
        if self.grace_period_s < 0 or self.idle_timeout_s < 0:
            raise ValueError("timeouts cannot be negative")

    @property
    def tcp_address(self) -> str | None:
        if self.port is None:
            return None
        host = self.host or "0.0.0.0"
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def fetch_policy(self) -> FetchPolicy:
        return FetchPolicy(
            connect_timeout_s=self.playback_connect_timeout_s,
            read_timeout_s=self.playback_read_timeout_s,
            total_timeout_s=self.playback_total_timeout_s,
            max_bytes=self.playback_max_bytes,
            max_redirects=self.playback_max_redirects,
            allow_hosts=self.playback_allow_hosts,
            deny_private=self.playback_deny_private,
            min_rate_bytes_per_s=self.playback_min_rate_bytes_per_s,
            rate_window_s=self.playback_rate_window_s,
        )

    @property
    def outbox_bytes(self) -> int:
        return 32 * self.outbox_ms  # 16 kHz mono PCM16 = 32 bytes per ms

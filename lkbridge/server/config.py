"""Every setting of `lkbridge serve`, in one validated object.

The CLI builds it from flags and environment variables; tests build it directly. `__init__` is
cheap; `load_tls()` reads files only when the server starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lkbridge.server import defaults as d
from lkbridge.server.defaults import LOG_LEVELS
from lkbridge.server.eventloop import LOOPS
from lkbridge.server.policy.playback_url import FetchPolicy
from lkbridge.wire import MAX_MESSAGE_BYTES

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
SdkLogs = Literal["native", "python"]  # where the SDK's native log records go (rtc/runtime.py)
SDK_LOGS: tuple[SdkLogs, ...] = ("native", "python")

MIN_BITRATE, MAX_BITRATE = 6_000, 510_000  # what Opus can encode

# What gRPC itself accepts before the bridge sees a message. Above MAX_MESSAGE_BYTES the bridge
# refuses a chunk itself (RESOURCE_EXHAUSTED, the session stays): a message gRPC refuses reaches
# the handler exactly like a client's cancel, which closes the session.
MAX_RECEIVE_BYTES = 2 * MAX_MESSAGE_BYTES
# Every request but a StreamAudio chunk: refused unparsed past this (grpc/malformed.py). The
# largest legal JoinRoom (16 KiB token, 8 KiB URL, three 256-byte ids) is about 25 KiB.
MAX_SMALL_REQUEST_BYTES = 64 * 1024
# a request's header list (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE): gRPC's own, a bearer token
MAX_METADATA_BYTES = 16 * 1024
SERVICE_NAME = "mentra.livekit.bridge.LiveKitBridge"
DEFAULT_PUBLISH_BITRATE = d.PUBLISH_BITRATE  # the names other modules and tests import
DEFAULT_MAX_SESSIONS = d.MAX_SESSIONS
DEFAULT_MAX_CPU = d.MAX_CPU
DEFAULT_MAX_JOINS_IN_FLIGHT = d.MAX_JOINS_IN_FLIGHT
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
    # every default is declared in defaults.py, which the CLI reads too
    host: str | None = d.HOST
    port: int | None = d.PORT
    socket: str | None = None
    socket_mode: int = d.SOCKET_MODE
    log_level: str = d.LOG_LEVEL
    log_format: LogFormat = d.LOG_FORMAT  # type: ignore[assignment]
    grace_period_s: float = d.GRACE_PERIOD_S
    auth_token: str | None = field(default=None, repr=False)
    tls: TlsFiles | None = None
    metrics_port: int | None = None
    metrics_host: str = d.METRICS_HOST
    loop: str = d.LOOP
    workers: int = d.WORKERS
    # the SDK's native log records: stderr (RUST_LOG) or Python logging
    sdk_logs: SdkLogs = d.SDK_LOGS  # type: ignore[assignment]
    # sessions
    # admission (session/registry.py): sessions held and JoinRooms connecting at once, per session
    # process; more get RESOURCE_EXHAUSTED at once (docs/operations.md, "Admission")
    max_sessions: int = d.MAX_SESSIONS
    max_joins_in_flight: int = d.MAX_JOINS_IN_FLIGHT
    # ... and while the process used this % of the CPU it may use (server/cpu_load.py); 0: off
    max_cpu: float = d.MAX_CPU
    # session processes sharing the CPU limit evenly (a front's workers: front/workers.py)
    cpu_processes: int = 1
    connect_timeout_s: float = 5.0
    # JoinRoom's livekit_url: also refuse loopback and private addresses (policy/addresses.py)
    livekit_deny_private: bool = False
    idle_timeout_s: float = d.IDLE_TIMEOUT_S
    forward_tracks: bool = False
    # client -> room
    capture_min_ms: int = d.CAPTURE_MIN_MS
    capture_max_ms: int = 100
    source_queue_ms: int = d.SOURCE_QUEUE_MS
    # drop silent frames while more than this is queued (tracks.TrackOptions.catch_up_ms)
    catch_up_ms: int = d.CATCH_UP_MS
    first_audio_wait_s: float = d.FIRST_AUDIO_WAIT_S
    max_track_id: int = 15
    # Opus max bitrate of the published tracks, bit/s; 0: the SDK's default (docs/operations.md)
    publish_bitrate: int = d.PUBLISH_BITRATE
    # a track with nothing loud for this long is unpublished until its next audio (tracks.py);
    # 0 (the default): tracks stay published (docs/operations.md, "Quiet tracks")
    track_quiet_ms: int = d.TRACK_QUIET_MS
    # RED (each packet also carries the previous frame) and DTX (almost nothing sent in pauses)
    # of the published tracks; the SDK's defaults, both on (docs/operations.md, "In the field")
    publish_red: bool = d.PUBLISH_RED
    publish_dtx: bool = d.PUBLISH_DTX
    # room -> client
    outbox_ms: int = 2000
    # playback
    playback_progress_ms: int = 250
    playback_allow_hosts: tuple[str, ...] = ()
    playback_deny_private: bool = False
    playback_max_bytes: int = d.PLAYBACK_MAX_BYTES
    playback_connect_timeout_s: float = 5.0
    playback_read_timeout_s: float = 10.0
    playback_total_timeout_s: float = 300.0
    playback_max_redirects: int = 5
    # after the first bytes: at least this rate over every window (a trickle fails, not hangs)
    playback_min_rate_bytes_per_s: int = 512
    playback_rate_window_s: float = 5.0
    # transport: what clients may hold below and at the gRPC layer (docs/operations.md,
    # "Transport bounds"); the defaults hold within a pod's 384 MiB under the issue-23 attacks
    max_connections: int = d.MAX_CONNECTIONS
    connection_idle_timeout_s: float = d.CONNECTION_IDLE_TIMEOUT_S
    max_streams_per_connection: int = d.MAX_STREAMS_PER_CONNECTION
    max_calls: int = d.MAX_CALLS
    first_message_timeout_s: float = 5.0  # a StreamAudio without its first AudioChunk ends
    # a second, health-only listener that the bounds above never starve (grpc/health_listener.py)
    health_port: int | None = None
    health_host: str = d.HEALTH_HOST

    def __post_init__(self) -> None:
        if self.port is None and not self.socket:
            raise ValueError("nothing to listen on: give a TCP port or a Unix socket")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} out of range")
        if self.health_port is not None and not 0 <= self.health_port <= 65535:
            raise ValueError(f"health port {self.health_port} out of range")
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
        if self.max_sessions < 1 or self.max_joins_in_flight < 1:
            raise ValueError("max sessions and max joins in flight must be at least 1")
        if not 0 <= self.max_cpu <= 100:
            raise ValueError(f"max cpu must be a percentage, 0 (off) to 100, not {self.max_cpu:g}")
        object.__setattr__(self, "max_cpu", self.max_cpu + 0.0)  # -0 is 0 (shown in figures)
        if self.track_quiet_ms and not 500 <= self.track_quiet_ms <= 3_600_000:
            raise ValueError("track quiet spell must be 0 or 500-3600000 ms")
        if self.grace_period_s < 0 or self.idle_timeout_s < 0:
            raise ValueError("timeouts cannot be negative")
        if min(self.max_connections, self.max_streams_per_connection, self.max_calls) < 1:
            raise ValueError("max connections, streams per connection and calls must be >= 1")
        if self.connection_idle_timeout_s <= 0 or self.first_message_timeout_s <= 0:
            raise ValueError("the connection idle and first message timeouts must be positive")

    @property
    def tcp_address(self) -> str | None:
        return None if self.port is None else _host_port(self.host or "0.0.0.0", self.port)

    @property
    def health_address(self) -> str | None:
        if self.health_port is None:
            return None
        return _host_port(self.health_host or d.HEALTH_HOST, self.health_port)

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


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

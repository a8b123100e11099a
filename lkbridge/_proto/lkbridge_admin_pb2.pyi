from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchStatsRequest(_message.Message):
    __slots__ = ("interval_ms", "include_sessions")
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    interval_ms: int
    include_sessions: bool
    def __init__(self, interval_ms: _Optional[int] = ..., include_sessions: _Optional[bool] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[SessionInfo]
    def __init__(self, sessions: _Optional[_Iterable[_Union[SessionInfo, _Mapping]]] = ...) -> None: ...

class ProcessStats(_message.Message):
    __slots__ = ("uptime_s", "rss_mb", "cpu_percent", "threads", "tasks", "open_fds", "loop_lag_ms", "version")
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    RSS_MB_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    OPEN_FDS_FIELD_NUMBER: _ClassVar[int]
    LOOP_LAG_MS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    uptime_s: float
    rss_mb: float
    cpu_percent: float
    threads: int
    tasks: int
    open_fds: int
    loop_lag_ms: float
    version: str
    def __init__(self, uptime_s: _Optional[float] = ..., rss_mb: _Optional[float] = ..., cpu_percent: _Optional[float] = ..., threads: _Optional[int] = ..., tasks: _Optional[int] = ..., open_fds: _Optional[int] = ..., loop_lag_ms: _Optional[float] = ..., version: _Optional[str] = ...) -> None: ...

class Totals(_message.Message):
    __slots__ = ("sessions", "streams", "playbacks", "frames_in", "frames_out", "bytes_in", "bytes_out", "drops", "errors", "sessions_created", "max_sessions", "max_joins_in_flight", "joins_in_flight", "joins_refused", "joins_abandoned", "drops_in", "stalls", "cpu_busy_percent", "max_cpu")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    PLAYBACKS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_IN_FIELD_NUMBER: _ClassVar[int]
    FRAMES_OUT_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    DROPS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_CREATED_FIELD_NUMBER: _ClassVar[int]
    MAX_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_JOINS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    JOINS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    JOINS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    JOINS_ABANDONED_FIELD_NUMBER: _ClassVar[int]
    DROPS_IN_FIELD_NUMBER: _ClassVar[int]
    STALLS_FIELD_NUMBER: _ClassVar[int]
    CPU_BUSY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MAX_CPU_FIELD_NUMBER: _ClassVar[int]
    sessions: int
    streams: int
    playbacks: int
    frames_in: int
    frames_out: int
    bytes_in: int
    bytes_out: int
    drops: int
    errors: int
    sessions_created: int
    max_sessions: int
    max_joins_in_flight: int
    joins_in_flight: int
    joins_refused: int
    joins_abandoned: int
    drops_in: int
    stalls: int
    cpu_busy_percent: float
    max_cpu: float
    def __init__(self, sessions: _Optional[int] = ..., streams: _Optional[int] = ..., playbacks: _Optional[int] = ..., frames_in: _Optional[int] = ..., frames_out: _Optional[int] = ..., bytes_in: _Optional[int] = ..., bytes_out: _Optional[int] = ..., drops: _Optional[int] = ..., errors: _Optional[int] = ..., sessions_created: _Optional[int] = ..., max_sessions: _Optional[int] = ..., max_joins_in_flight: _Optional[int] = ..., joins_in_flight: _Optional[int] = ..., joins_refused: _Optional[int] = ..., joins_abandoned: _Optional[int] = ..., drops_in: _Optional[int] = ..., stalls: _Optional[int] = ..., cpu_busy_percent: _Optional[float] = ..., max_cpu: _Optional[float] = ...) -> None: ...

class PlaybackInfo(_message.Message):
    __slots__ = ("request_id", "track", "position_ms", "duration_ms", "state")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    POSITION_MS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    track: str
    position_ms: int
    duration_ms: int
    state: str
    def __init__(self, request_id: _Optional[str] = ..., track: _Optional[str] = ..., position_ms: _Optional[int] = ..., duration_ms: _Optional[int] = ..., state: _Optional[str] = ...) -> None: ...

class SessionInfo(_message.Message):
    __slots__ = ("user_id", "room", "participant_id", "connected", "participant_count", "tracks", "stream_open", "queue_bytes", "frames_in_per_s", "frames_out_per_s", "drops", "playbacks", "last_disconnect_reason", "age_s", "state", "frames_in", "frames_out", "level_in_dbfs", "level_out_dbfs")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    STREAM_OPEN_FIELD_NUMBER: _ClassVar[int]
    QUEUE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FRAMES_IN_PER_S_FIELD_NUMBER: _ClassVar[int]
    FRAMES_OUT_PER_S_FIELD_NUMBER: _ClassVar[int]
    DROPS_FIELD_NUMBER: _ClassVar[int]
    PLAYBACKS_FIELD_NUMBER: _ClassVar[int]
    LAST_DISCONNECT_REASON_FIELD_NUMBER: _ClassVar[int]
    AGE_S_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_IN_FIELD_NUMBER: _ClassVar[int]
    FRAMES_OUT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_IN_DBFS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_OUT_DBFS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    room: str
    participant_id: str
    connected: bool
    participant_count: int
    tracks: _containers.RepeatedScalarFieldContainer[str]
    stream_open: bool
    queue_bytes: int
    frames_in_per_s: float
    frames_out_per_s: float
    drops: int
    playbacks: _containers.RepeatedCompositeFieldContainer[PlaybackInfo]
    last_disconnect_reason: str
    age_s: float
    state: str
    frames_in: int
    frames_out: int
    level_in_dbfs: float
    level_out_dbfs: float
    def __init__(self, user_id: _Optional[str] = ..., room: _Optional[str] = ..., participant_id: _Optional[str] = ..., connected: _Optional[bool] = ..., participant_count: _Optional[int] = ..., tracks: _Optional[_Iterable[str]] = ..., stream_open: _Optional[bool] = ..., queue_bytes: _Optional[int] = ..., frames_in_per_s: _Optional[float] = ..., frames_out_per_s: _Optional[float] = ..., drops: _Optional[int] = ..., playbacks: _Optional[_Iterable[_Union[PlaybackInfo, _Mapping]]] = ..., last_disconnect_reason: _Optional[str] = ..., age_s: _Optional[float] = ..., state: _Optional[str] = ..., frames_in: _Optional[int] = ..., frames_out: _Optional[int] = ..., level_in_dbfs: _Optional[float] = ..., level_out_dbfs: _Optional[float] = ...) -> None: ...

class StatsSnapshot(_message.Message):
    __slots__ = ("timestamp_ms", "process", "totals", "sessions")
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    timestamp_ms: int
    process: ProcessStats
    totals: Totals
    sessions: _containers.RepeatedCompositeFieldContainer[SessionInfo]
    def __init__(self, timestamp_ms: _Optional[int] = ..., process: _Optional[_Union[ProcessStats, _Mapping]] = ..., totals: _Optional[_Union[Totals, _Mapping]] = ..., sessions: _Optional[_Iterable[_Union[SessionInfo, _Mapping]]] = ...) -> None: ...

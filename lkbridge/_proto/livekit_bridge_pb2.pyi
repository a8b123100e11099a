from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AudioChunk(_message.Message):
    __slots__ = ("pcm_data", "sample_rate", "channels", "timestamp_ms", "user_id", "track_id")
    PCM_DATA_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    pcm_data: bytes
    sample_rate: int
    channels: int
    timestamp_ms: int
    user_id: str
    track_id: int
    def __init__(self, pcm_data: _Optional[bytes] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., user_id: _Optional[str] = ..., track_id: _Optional[int] = ...) -> None: ...

class JoinRoomRequest(_message.Message):
    __slots__ = ("user_id", "room_name", "token", "livekit_url", "target_identity")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_NAME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIVEKIT_URL_FIELD_NUMBER: _ClassVar[int]
    TARGET_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    room_name: str
    token: str
    livekit_url: str
    target_identity: str
    def __init__(self, user_id: _Optional[str] = ..., room_name: _Optional[str] = ..., token: _Optional[str] = ..., livekit_url: _Optional[str] = ..., target_identity: _Optional[str] = ...) -> None: ...

class JoinRoomResponse(_message.Message):
    __slots__ = ("success", "error", "participant_id", "participant_count", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_COUNT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    success: bool
    error: str
    participant_id: str
    participant_count: int
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, success: _Optional[bool] = ..., error: _Optional[str] = ..., participant_id: _Optional[str] = ..., participant_count: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class LeaveRoomRequest(_message.Message):
    __slots__ = ("user_id", "reason")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    reason: str
    def __init__(self, user_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class LeaveRoomResponse(_message.Message):
    __slots__ = ("success", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    error: str
    def __init__(self, success: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class PlayAudioRequest(_message.Message):
    __slots__ = ("request_id", "audio_url", "volume", "stop_other", "user_id", "track_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AUDIO_URL_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    STOP_OTHER_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    audio_url: str
    volume: float
    stop_other: bool
    user_id: str
    track_id: int
    def __init__(self, request_id: _Optional[str] = ..., audio_url: _Optional[str] = ..., volume: _Optional[float] = ..., stop_other: _Optional[bool] = ..., user_id: _Optional[str] = ..., track_id: _Optional[int] = ...) -> None: ...

class PlayAudioEvent(_message.Message):
    __slots__ = ("type", "request_id", "duration_ms", "position_ms", "error", "metadata")
    class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STARTED: _ClassVar[PlayAudioEvent.EventType]
        PROGRESS: _ClassVar[PlayAudioEvent.EventType]
        COMPLETED: _ClassVar[PlayAudioEvent.EventType]
        FAILED: _ClassVar[PlayAudioEvent.EventType]
    STARTED: PlayAudioEvent.EventType
    PROGRESS: PlayAudioEvent.EventType
    COMPLETED: PlayAudioEvent.EventType
    FAILED: PlayAudioEvent.EventType
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    POSITION_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    type: PlayAudioEvent.EventType
    request_id: str
    duration_ms: int
    position_ms: int
    error: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, type: _Optional[_Union[PlayAudioEvent.EventType, str]] = ..., request_id: _Optional[str] = ..., duration_ms: _Optional[int] = ..., position_ms: _Optional[int] = ..., error: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class StopAudioRequest(_message.Message):
    __slots__ = ("user_id", "request_id", "reason", "track_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    request_id: str
    reason: str
    track_id: int
    def __init__(self, user_id: _Optional[str] = ..., request_id: _Optional[str] = ..., reason: _Optional[str] = ..., track_id: _Optional[int] = ...) -> None: ...

class StopAudioResponse(_message.Message):
    __slots__ = ("success", "error", "stopped_request_id")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STOPPED_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    success: bool
    error: str
    stopped_request_id: str
    def __init__(self, success: _Optional[bool] = ..., error: _Optional[str] = ..., stopped_request_id: _Optional[str] = ...) -> None: ...

class HealthCheckRequest(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    def __init__(self, service: _Optional[str] = ...) -> None: ...

class HealthCheckResponse(_message.Message):
    __slots__ = ("status", "active_sessions", "active_streams", "uptime_seconds", "metadata")
    class ServingStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[HealthCheckResponse.ServingStatus]
        SERVING: _ClassVar[HealthCheckResponse.ServingStatus]
        NOT_SERVING: _ClassVar[HealthCheckResponse.ServingStatus]
        SERVICE_UNKNOWN: _ClassVar[HealthCheckResponse.ServingStatus]
    UNKNOWN: HealthCheckResponse.ServingStatus
    SERVING: HealthCheckResponse.ServingStatus
    NOT_SERVING: HealthCheckResponse.ServingStatus
    SERVICE_UNKNOWN: HealthCheckResponse.ServingStatus
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_STREAMS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    status: HealthCheckResponse.ServingStatus
    active_sessions: int
    active_streams: int
    uptime_seconds: int
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, status: _Optional[_Union[HealthCheckResponse.ServingStatus, str]] = ..., active_sessions: _Optional[int] = ..., active_streams: _Optional[int] = ..., uptime_seconds: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class BridgeStatusRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class BridgeStatusResponse(_message.Message):
    __slots__ = ("connected", "participant_id", "participant_count", "last_disconnect_at", "last_disconnect_reason", "server_version")
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_DISCONNECT_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_DISCONNECT_REASON_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    connected: bool
    participant_id: str
    participant_count: int
    last_disconnect_at: int
    last_disconnect_reason: str
    server_version: str
    def __init__(self, connected: _Optional[bool] = ..., participant_id: _Optional[str] = ..., participant_count: _Optional[int] = ..., last_disconnect_at: _Optional[int] = ..., last_disconnect_reason: _Optional[str] = ..., server_version: _Optional[str] = ...) -> None: ...

class SessionStats(_message.Message):
    __slots__ = ("user_id", "audio_frames_sent", "audio_frames_received", "bytes_sent", "bytes_received", "session_duration_ms", "room_name", "participant_count")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FRAMES_SENT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FRAMES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    SESSION_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    ROOM_NAME_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_COUNT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    audio_frames_sent: int
    audio_frames_received: int
    bytes_sent: int
    bytes_received: int
    session_duration_ms: int
    room_name: str
    participant_count: int
    def __init__(self, user_id: _Optional[str] = ..., audio_frames_sent: _Optional[int] = ..., audio_frames_received: _Optional[int] = ..., bytes_sent: _Optional[int] = ..., bytes_received: _Optional[int] = ..., session_duration_ms: _Optional[int] = ..., room_name: _Optional[str] = ..., participant_count: _Optional[int] = ...) -> None: ...

"""The generated descriptors against ../shared/contract.md's table, field by field.

The table is copied here on purpose: a change to the .proto that breaks wire compatibility with
the Go bridge must fail this test, not silently regenerate it.
"""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor as F

from lkbridge._proto import livekit_bridge_pb2 as pb

T = F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_INT32, F.TYPE_INT64, F.TYPE_BOOL, F.TYPE_FLOAT, F.TYPE_ENUM
STRING, BYTES, INT32, INT64, BOOL, FLOAT, ENUM = T
MAP = "map"

# fmt: off
CONTRACT: dict[str, list[tuple[str, object, int]]] = {
    "AudioChunk": [("pcm_data", BYTES, 1), ("sample_rate", INT32, 2), ("channels", INT32, 3),
                   ("timestamp_ms", INT64, 4), ("user_id", STRING, 5), ("track_id", INT32, 6)],
    "JoinRoomRequest": [("user_id", STRING, 1), ("room_name", STRING, 2), ("token", STRING, 3),
                        ("livekit_url", STRING, 4), ("target_identity", STRING, 5)],
    "JoinRoomResponse": [("success", BOOL, 1), ("error", STRING, 2), ("participant_id", STRING, 3),
                         ("participant_count", INT32, 4), ("metadata", MAP, 5)],
    "LeaveRoomRequest": [("user_id", STRING, 1), ("reason", STRING, 2)],
    "LeaveRoomResponse": [("success", BOOL, 1), ("error", STRING, 2)],
    "PlayAudioRequest": [("request_id", STRING, 1), ("audio_url", STRING, 2), ("volume", FLOAT, 3),
                         ("stop_other", BOOL, 4), ("user_id", STRING, 5), ("track_id", INT32, 6)],
    "PlayAudioEvent": [("type", ENUM, 1), ("request_id", STRING, 2), ("duration_ms", INT64, 3),
                       ("position_ms", INT64, 4), ("error", STRING, 5), ("metadata", MAP, 6)],
    "StopAudioRequest": [("user_id", STRING, 1), ("request_id", STRING, 2), ("reason", STRING, 3),
                         ("track_id", INT32, 4)],
    "StopAudioResponse": [("success", BOOL, 1), ("error", STRING, 2),
                          ("stopped_request_id", STRING, 3)],
    "HealthCheckRequest": [("service", STRING, 1)],
    "HealthCheckResponse": [("status", ENUM, 1), ("active_sessions", INT32, 2),
                            ("active_streams", INT32, 3), ("uptime_seconds", INT64, 4),
                            ("metadata", MAP, 5)],
    "BridgeStatusRequest": [("user_id", STRING, 1)],
    "BridgeStatusResponse": [("connected", BOOL, 1), ("participant_id", STRING, 2),
                             ("participant_count", INT32, 3), ("last_disconnect_at", INT64, 4),
                             ("last_disconnect_reason", STRING, 5), ("server_version", STRING, 6)],
    "SessionStats": [("user_id", STRING, 1), ("audio_frames_sent", INT64, 2),
                     ("audio_frames_received", INT64, 3), ("bytes_sent", INT64, 4),
                     ("bytes_received", INT64, 5), ("session_duration_ms", INT64, 6),
                     ("room_name", STRING, 7), ("participant_count", INT32, 8)],
}

# fmt: on

ENUMS = {
    ("PlayAudioEvent", "EventType"): {"STARTED": 0, "PROGRESS": 1, "COMPLETED": 2, "FAILED": 3},
    ("HealthCheckResponse", "ServingStatus"): {
        "UNKNOWN": 0,
        "SERVING": 1,
        "NOT_SERVING": 2,
        "SERVICE_UNKNOWN": 3,
    },
}

RPCS = {
    "StreamAudio": ("AudioChunk", "AudioChunk", True, True),
    "JoinRoom": ("JoinRoomRequest", "JoinRoomResponse", False, False),
    "LeaveRoom": ("LeaveRoomRequest", "LeaveRoomResponse", False, False),
    "PlayAudio": ("PlayAudioRequest", "PlayAudioEvent", False, True),
    "StopAudio": ("StopAudioRequest", "StopAudioResponse", False, False),
    "HealthCheck": ("HealthCheckRequest", "HealthCheckResponse", False, False),
    "GetStatus": ("BridgeStatusRequest", "BridgeStatusResponse", False, False),
}


def test_package_and_messages_match_the_contract() -> None:
    file = pb.DESCRIPTOR
    assert file.package == "mentra.livekit.bridge"
    assert set(file.message_types_by_name) == set(CONTRACT)
    for name, fields in CONTRACT.items():
        message = file.message_types_by_name[name]
        actual = []
        for f in message.fields:
            is_map = f.message_type is not None and f.message_type.GetOptions().map_entry
            actual.append((f.name, MAP if is_map else f.type, f.number))
        assert actual == fields, name
        for f in message.fields:
            if f.message_type is not None and f.message_type.GetOptions().map_entry:
                key, value = f.message_type.fields
                assert (key.type, value.type) == (STRING, STRING), f"{name}.{f.name}"


def test_enums_match_the_contract() -> None:
    for (message, enum), values in ENUMS.items():
        descriptor = pb.DESCRIPTOR.message_types_by_name[message].enum_types_by_name[enum]
        assert {v.name: v.number for v in descriptor.values} == values


def test_service_matches_the_contract() -> None:
    service = pb.DESCRIPTOR.services_by_name["LiveKitBridge"]
    assert service.full_name == "mentra.livekit.bridge.LiveKitBridge"
    actual = {
        m.name: (m.input_type.name, m.output_type.name, m.client_streaming, m.server_streaming)
        for m in service.methods
    }
    assert actual == RPCS

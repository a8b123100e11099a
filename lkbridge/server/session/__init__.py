"""One user's room session and the registry of them: what the gRPC side drives, above the room
paths it composes (rtc, room_to_client, playback)."""

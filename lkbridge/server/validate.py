"""A request's fields checked before anything is looked up or logged: present, within their
length, in range, a LiveKit URL that is one. (A playback URL is checked by fetch.py's
`check_url`, with the policy it is fetched under.)

A string field costs its length wherever the bridge keeps or prints it (the registry's keys,
task names, log lines), so an unbounded one lets one call hold megabytes. The limits sit far
above what the cloud sends (user ids are tens of bytes; signed URLs and tokens a few KB).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from lkbridge.errors import InvalidArgument
from lkbridge.server.redact import redact

MAX_ID_BYTES = 256  # user_id, request_id, room_name, target_identity
MAX_TOKEN_BYTES = 16 * 1024
MAX_URL_BYTES = 8 * 1024  # livekit_url, audio_url (pre-signed URLs carry long queries)
MAX_REASON_BYTES = 1024
LIVEKIT_SCHEMES = ("ws", "wss", "http", "https")


def check_length(value: str, field: str, limit: int) -> str:
    """`value`, or INVALID_ARGUMENT naming the field and its size (never quoting it)."""
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise InvalidArgument(f"{field} is {size} bytes, over the {limit}-byte limit")
    return value


def require(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(f"{field} is required")
    return value


def validate_livekit_url(url: str) -> str:
    require(url, "livekit_url")
    check_length(url, "livekit_url", MAX_URL_BYTES)
    parts = urlsplit(url)
    if parts.scheme not in LIVEKIT_SCHEMES or not parts.netloc:
        raise InvalidArgument(
            f"livekit_url must be a ws://, wss://, http:// or https:// URL (got {redact(url)!r})"
        )
    return url


def user_id_of(value: str, *, required: bool = True) -> str:
    """A user_id within MAX_ID_BYTES (GetStatus and StopAudio take an empty one as unknown)."""
    if required:
        require(value, "user_id")
    return check_length(value, "user_id", MAX_ID_BYTES)


def validate_track_id(track_id: int, max_track_id: int) -> int:
    if not 0 <= track_id <= max_track_id:
        raise InvalidArgument(f"track_id {track_id} out of range 0..{max_track_id}")
    return track_id

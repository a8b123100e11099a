"""A request's fields checked before anything is looked up or logged: present, within their
length, in range, names without control characters, a LiveKit URL that is one
(policy/livekit_url.py puts it in the form the SDK dials). A playback URL is checked by
policy/playback_url.py's `check_url`, with the policy it is fetched under.

Per field, what a client string may carry: identifiers (user_id, request_id, room_name,
target_identity) are refused with INVALID_ARGUMENT when they hold a character that is not
printable (newline, ESC, C1 controls, bidi and zero-width format characters, separators other
than the space): an id is a key, and one that can forge a log line or drive a terminal is never
legitimate. Free text (LeaveRoom's and StopAudio's reason) is kept with those characters
escaped (`redact.printable`): a reason never fails the call that carries it. Everywhere the
bridge, the TUI and the CLI print such a string, it is printed as text (escaped, never markup).

A string field costs its length wherever the bridge keeps or prints it (the registry's keys,
task names, log lines), so an unbounded one lets one call hold megabytes. The limits sit far
above what the cloud sends (user ids are tens of bytes; signed URLs and tokens a few KB).
"""

from __future__ import annotations

from urllib.parse import SplitResult

from lkbridge.errors import InvalidArgument
from lkbridge.server.policy.livekit_url import normalise
from lkbridge.text import printable

MAX_ID_BYTES = 256  # user_id, request_id, room_name, target_identity
MAX_TOKEN_BYTES = 16 * 1024
MAX_URL_BYTES = 8 * 1024  # livekit_url, audio_url (pre-signed URLs carry long queries)
MAX_REASON_BYTES = 1024


def check_length(value: str, field: str, limit: int) -> str:
    """`value`, or INVALID_ARGUMENT naming the field and its size (never quoting it)."""
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise InvalidArgument(f"{field} is {size} bytes, over the {limit}-byte limit")
    return value


def check_name(value: str, field: str) -> str:
    """`value`, or INVALID_ARGUMENT naming the first character that is not printable (by code
    point: the value itself is never quoted)."""
    if not value.isprintable():
        index, char = next((i, c) for i, c in enumerate(value) if not c.isprintable())
        raise InvalidArgument(
            f"{field} holds a control or format character (U+{ord(char):04X} at {index}): "
            "ids must be printable text"
        )
    return value


def free_text(value: str, field: str, limit: int) -> str:
    """A reason within its limit, its unprintable characters escaped."""
    return printable(check_length(value, field, limit))


def require(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(f"{field} is required")
    return value


def validate_livekit_url(url: str) -> SplitResult:
    """The URL's parts with its host in the form the SDK dials (livekit_url.py)."""
    require(url, "livekit_url")
    check_length(url, "livekit_url", MAX_URL_BYTES)
    return normalise(url)


def user_id_of(value: str, *, required: bool = True) -> str:
    """A user_id within MAX_ID_BYTES (GetStatus and StopAudio take an empty one as unknown)."""
    if required:
        require(value, "user_id")
    return check_name(check_length(value, "user_id", MAX_ID_BYTES), "user_id")


def id_of(value: str, field: str) -> str:
    """An optional identifier (request_id, room_name, target_identity): bounded, printable."""
    return check_name(check_length(value, field, MAX_ID_BYTES), field)


def validate_track_id(track_id: int, max_track_id: int) -> int:
    if not 0 <= track_id <= max_track_id:
        raise InvalidArgument(f"track_id {track_id} out of range 0..{max_track_id}")
    return track_id

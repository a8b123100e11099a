"""How long the strings of a request may be, checked before anything is looked up or logged.

A string field costs its length wherever the bridge keeps or prints it (the registry's keys,
task names, log lines), so an unbounded one lets one call hold megabytes. The limits sit far
above what the cloud sends (user ids are tens of bytes; signed URLs and tokens a few KB).
"""

from __future__ import annotations

from lkbridge.errors import InvalidArgument

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

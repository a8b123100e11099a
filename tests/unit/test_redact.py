"""What the bridge says about untrusted input: secrets redacted, long strings clipped, lengths
bounded in bytes and never quoted.
"""

from __future__ import annotations

import logging

import pytest

from lkbridge.errors import InvalidArgument
from lkbridge.server.grpc.validate import MAX_ID_BYTES, check_length
from lkbridge.server.redact import RedactingFilter, clip, redact

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjbG91ZC1hZ2VudDp1MSJ9."
    "SM8adOiM7FIBmiKIdlH4UVVAU6Ox4ktjHVIMdx4Hu3k"
)


def test_redact_removes_jwts_token_parameters_and_given_secrets() -> None:
    sdk = f"signal failure: client error: 401 Unauthorized - invalid token: {JWT}"
    assert (
        redact(sdk) == "signal failure: client error: 401 Unauthorized - invalid token: [redacted]"
    )
    url = "ws://sfu:7880/rtc/v1?access_token=opaque-secret-value&auto_subscribe=0"
    assert redact(url) == "ws://sfu:7880/rtc/v1?access_token=[redacted]&auto_subscribe=0"
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer [redacted]"
    assert redact("got garbage-token-xyz back", ["garbage-token-xyz"]) == "got [redacted] back"
    assert redact("a short one", ["one"]) == "a short one", "short secrets would blank words"
    assert redact("connection refused (os error 111)") == "connection refused (os error 111)"


def test_clip_says_how_much_it_left_out() -> None:
    assert clip("abc", 5) == "abc"
    assert clip("x" * 1000, 10) == "xxxxxxxxxx...(+990 chars)"


def test_redacting_filter_scrubs_sdk_records() -> None:
    record = logging.LogRecord("livekit", logging.WARNING, "", 0, "rejected %s", (JWT,), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "rejected [redacted]"


def test_lengths_are_bounded_in_bytes_and_never_quoted() -> None:
    assert check_length("u" * MAX_ID_BYTES, "user_id", MAX_ID_BYTES) == "u" * MAX_ID_BYTES
    with pytest.raises(InvalidArgument) as err:
        check_length("é" * 200, "user_id", MAX_ID_BYTES)  # 200 characters, 400 bytes
    assert str(err.value) == "user_id is 400 bytes, over the 256-byte limit"

"""Numbers of the wire contract (docs/contract.md) that both ends need.

The client, the server and the front's relay to its workers each build their own channel options
(each role keeps its own keepalive and window settings) from these.
"""

from __future__ import annotations

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # the largest message either end sends or accepts

# StreamAudio's initial metadata says the stream was accepted. An answer's headers alone do not:
# a refusal is a trailers-only response, whose empty headers grpc.aio may hand to
# `initial_metadata()` before the status is read, so "no error yet" would pass for acceptance.
STREAM_ACCEPTED = ("lkbridge-stream", "accepted")

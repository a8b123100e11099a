"""Free ports for the servers a test, a benchmark or a second dev stack starts.

Fixed ports made two runs on one machine (a developer's stack and the test suite, or two test
runs) take over each other's SFU. The kernel picks a free port; the short window between closing
the probe socket and the server binding it is acceptable for a dev tool.
"""

from __future__ import annotations

import socket


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port nobody listens on now, for TCP (default) or UDP (`socket.SOCK_DGRAM`)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def free_udp_port() -> int:
    """A UDP port free on every address (the SFU's media port binds the wildcard address)."""
    return free_port(socket.SOCK_DGRAM, "0.0.0.0")

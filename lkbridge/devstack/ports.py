"""Free ports for the servers a test, a benchmark or a second dev stack starts.

Fixed ports made two runs on one machine (a developer's stack and the test suite, or two test
runs) take over each other's SFU. A port is probed free and handed to the server, which binds it
a moment later. The ports come from below the kernel's ephemeral range: the kernel hands ports
of that range to every socket that binds port 0 or connects, and the SDK's WebRTC peers open UDP
sockets there all the time, so a port probed free in it was taken before livekit-server bound it
("listen udp 10.77.0.1:58417: bind: address already in use" with a soak, a benchmark and the
test suite on one machine). Below the range only another explicit pick can take it, and picks
are random.
"""

from __future__ import annotations

import random
import socket

FIRST_PORT = 10000  # the lowest port handed out: clear of the well-known and registered ones
TRIES = 64
_pick = random.SystemRandom()  # not the module's generator: a test that seeds it would make
# processes started together pick the same ports


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux's default: 32768)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port nobody holds now, for TCP (default) or UDP (`socket.SOCK_DGRAM`), below the
    ephemeral range where it can; from the kernel if every try there is taken."""
    high = _ephemeral_low() - 1
    for _ in range(TRIES if high > FIRST_PORT else 0):
        port = _pick.randint(FIRST_PORT, high)
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        chosen: int = probe.getsockname()[1]
        return chosen


def free_udp_port() -> int:
    """A UDP port free on every address (the SFU's media port binds the wildcard address)."""
    return free_port(socket.SOCK_DGRAM, "0.0.0.0")

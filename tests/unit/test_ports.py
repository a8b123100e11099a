"""Free ports come from below the kernel's ephemeral range, where no socket lands by chance."""

from __future__ import annotations

import socket

import pytest

from lkbridge.devstack import ports


def test_ports_come_from_below_the_ephemeral_range_and_are_free() -> None:
    low = ports._ephemeral_low()
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        port = ports.free_port(kind)
        assert ports.FIRST_PORT <= port < low
        with socket.socket(socket.AF_INET, kind) as server:
            server.bind(("127.0.0.1", port))  # what the server does with it next
    assert ports.FIRST_PORT <= ports.free_udp_port() < low


def test_when_every_try_is_taken_the_kernel_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        monkeypatch.setattr(ports._pick, "randint", lambda low, high: busy)
        port = ports.free_port()
    assert port != busy and port >= ports._ephemeral_low()

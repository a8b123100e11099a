"""What every client command shares, without typer: where the bridge is, auth, one-line
errors, exit codes.

Imports stay light (no gRPC, no SDK, no PyAV, not even typer at module level): `lkbridge health`
runs as a Kubernetes probe every 10 s through probe.py, and pays for what this module pulls in.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from lkbridge.cli.profile import Profile, ProfileError, load_profile
from lkbridge.devstack.state import DevInfo, load_dev_info
from lkbridge.text import printable

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from lkbridge.client import BridgeClient

# Exit codes (README, "Exit codes"). 2 means nothing was changed anywhere: fix the input or the
# address and run it again. 3 means the bridge (or LiveKit) was asked and said no.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_CANNOT_CONNECT = 2
EXIT_RPC_FAILED = 3
EXIT_NOT_SERVING = 4
EXIT_INTERRUPTED = 130

DEFAULT_TARGET = "127.0.0.1:9090"

T = TypeVar("T")


class CliExit(Exception):
    """Ends a command with `code`; whatever it had to say is printed already (one line)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exit {code}")
        self.code = code


def fail(message: str, code: int) -> CliExit:
    one_line = printable(" ".join(message.split()))  # a server's text: no ESC reaches the tty
    print(f"error: {one_line}", file=sys.stderr, flush=True)
    return CliExit(code)


def profile_or_fail() -> Profile:
    try:
        return load_profile()
    except ProfileError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


@dataclass(frozen=True)
class Target:
    address: str
    dev: DevInfo | None  # the running dev stack, when the address is its bridge


def resolve(target: str | None) -> Target:
    """Flag/environment (typer has applied both), then the profile, then the dev stack."""
    dev = load_dev_info()
    address = target or profile_or_fail().bridge
    if not address:
        address = dev.bridge_socket if dev else DEFAULT_TARGET
    owned = dev is not None and address in (dev.bridge_socket, dev.bridge_tcp)
    return Target(address, dev if owned else None)


def resolve_target(target: str | None) -> str:
    return resolve(target).address


def resolve_auth(auth_token: str | None) -> str | None:
    return auth_token or profile_or_fail().auth_token or None


def unreachable_cause(address: str, timeout: float) -> str | None:
    """Why nothing answers at `address`, found without gRPC; None when it looks reachable.

    grpc only says "not reachable" after the whole timeout: a missing socket file or a refused
    port is known at once, and its cause is what the user needs to read.
    """
    if address.startswith("unix:"):
        path = address[5:].removeprefix("//")
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            return f"no socket file {path} (is the bridge running?)"
        except OSError as exc:
            return f"cannot use {path}: {exc.strerror}"
        if not stat.S_ISSOCK(mode):
            return f"{path} is not a socket"
        probe = socket.socket(socket.AF_UNIX)
        probe.settimeout(timeout)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            return f"nobody listens on {path} (left by a bridge that died?)"
        except OSError as exc:
            return f"cannot connect to {path}: {exc.strerror or exc}"
        finally:
            probe.close()
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return None  # a gRPC target form (dns:///, ipv6 lists): let grpc judge
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return f"connection refused (nothing listens on port {port} of {host})"
    except socket.gaierror:
        return f"unknown host {host!r}"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)


def cannot_reach(address: str, cause: str) -> CliExit:
    return fail(f"cannot reach the bridge at {address}: {cause}", EXIT_CANNOT_CONNECT)


def rpc_failed(code: str, details: str) -> CliExit:
    hint = " (give --auth-token or LKBRIDGE_AUTH_TOKEN)" if code == "UNAUTHENTICATED" else ""
    return fail(f"{code}: {details}{hint}", EXIT_RPC_FAILED)


def run_call(
    target: str | None,
    auth_token: str | None,
    timeout: float,
    call: Callable[[BridgeClient], Awaitable[T]],
) -> T:
    """Run one client call: unreachable bridge -> exit 2, failed RPC -> exit 3, one line each."""
    address = resolve_target(target)
    return run_on(address, resolve_auth(auth_token), timeout, call)


def run_on(
    address: str,
    auth_token: str | None,
    timeout: float,
    call: Callable[[BridgeClient], Awaitable[T]],
) -> T:
    import asyncio

    from lkbridge.client import BridgeClient
    from lkbridge.errors import ClientError

    cause = unreachable_cause(address, min(timeout, 2.0))
    if cause is not None:
        raise cannot_reach(address, cause)

    async def go() -> T:
        async with BridgeClient(address, auth_token=auth_token, timeout=timeout) as client:
            try:
                await client.wait_ready(timeout)
            except ClientError:
                raise cannot_reach(
                    address,
                    unreachable_cause(address, 1.0)
                    or f"no gRPC answer within {timeout:g} s (TLS, or not a bridge?)",
                ) from None
            return await call(client)

    try:
        return asyncio.run(go())
    except ClientError as exc:
        raise rpc_failed(exc.code, exc.details) from None


def message_dict(message: Message) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def print_rows(title: str, rows: list[tuple[str, str]]) -> None:
    """A two-column table in plain text: rich costs `health` a fifth of its start-up."""
    width = max((len(k) for k, _ in rows), default=0)
    print(title)
    for key, value in rows:
        print(f"  {key.ljust(width)}  {printable(value)}")

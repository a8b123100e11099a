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

# Set once per process, before any command runs (main.py, probe.py): a `--json` run says its
# error as one JSON object on stderr, so a script that parses stdout can parse stderr too.
JSON_ERRORS = False


def wants_json(argv: list[str]) -> bool:
    """Whether the command line asks for JSON (options end at a bare `--`)."""
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv


class CliExit(Exception):
    """Ends a command with `code`; whatever it had to say is printed already (one line)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exit {code}")
        self.code = code


def fail(message: str, code: int) -> CliExit:
    """Say `message` as the one line on stderr: `error: ...`, or with --json
    `{"error": "...", "exit_code": N}`; the caller raises what this returns."""
    one_line = printable(" ".join(message.split()))  # a server's text: no ESC reaches the tty
    if JSON_ERRORS:
        print(json.dumps({"error": one_line, "exit_code": code}), file=sys.stderr, flush=True)
    else:
        print(f"error: {one_line}", file=sys.stderr, flush=True)
    return CliExit(code)


def session_not_found(user_id: str) -> CliExit:
    """The one wording and exit code of an unknown user, whichever command met it."""
    return fail(f"session not found: {user_id}", EXIT_RPC_FAILED)


def refused(error: str, user_id: str) -> CliExit:
    """A response with success=false (LeaveRoom, StopAudio) as the one line of exit 3."""
    if error.startswith("session not found"):
        return session_not_found(user_id)
    return fail(f"{error}: {user_id}", EXIT_RPC_FAILED)


def profile_or_fail() -> Profile:
    try:
        return load_profile()
    except ProfileError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


@dataclass(frozen=True)
class Target:
    address: str
    dev: DevInfo | None  # the running dev stack, when the address is its bridge


def address_problem(address: str) -> str | None:
    """What is wrong with the form of a bridge address, or None when it is usable.

    grpc takes a bare host for host:443 and judges a malformed target only after its whole
    timeout, as a TLS-looking failure: the form is checked here, at once, as grpcurl does.
    """
    if address.startswith("unix:"):
        return None if address[5:].removeprefix("//") else "no socket path after unix:"
    if "://" in address or address.startswith(("dns:", "ipv4:", "ipv6:")):
        return None  # a gRPC target URI: grpc judges it
    host, sep, port = address.rpartition(":")
    if not sep:
        return "no port: give host:port (e.g. 127.0.0.1:9090) or unix:/path"
    if not host:
        return "no host before the port"
    bracketed = host.startswith("[") and host.endswith("]")
    if ":" in host and not bracketed:
        return "write an IPv6 address as [addr]:port, or give host:port"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"port {port!r} is not a number from 1 to 65535"
    return None


def resolve(target: str | None) -> Target:
    """Flag/environment (typer has applied both), then the profile, then the dev stack."""
    dev = load_dev_info()
    address = target or profile_or_fail().bridge
    if not address:
        address = dev.bridge_socket if dev else DEFAULT_TARGET
    problem = address_problem(address)
    if problem is not None:
        raise fail(f"bad bridge address {address!r}: {problem}", EXIT_USAGE)
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


def rpc_failed(code: str, details: str, user_id: str | None = None) -> CliExit:
    if user_id is not None and code == "NOT_FOUND" and details.startswith("session not found"):
        return session_not_found(user_id)
    hint = " (give --auth-token or LKBRIDGE_AUTH_TOKEN)" if code == "UNAUTHENTICATED" else ""
    return fail(f"{code}: {details}{hint}", EXIT_RPC_FAILED)


def run_call(
    target: str | None,
    auth_token: str | None,
    timeout: float,
    call: Callable[[BridgeClient], Awaitable[T]],
    user_id: str | None = None,
) -> T:
    """Run one client call: unreachable bridge -> exit 2, failed RPC -> exit 3, one line each
    (an unknown `user_id`: `session not found: USER`, as everywhere)."""
    address = resolve_target(target)
    return run_on(address, resolve_auth(auth_token), timeout, call, user_id)


def run_on(
    address: str,
    auth_token: str | None,
    timeout: float,
    call: Callable[[BridgeClient], Awaitable[T]],
    user_id: str | None = None,
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
        raise rpc_failed(exc.code, exc.details, user_id) from None


def message_dict(message: Message) -> dict[str, Any]:
    """The message as JSON-ready data, 64-bit integers as numbers.

    proto3's JSON mapping writes int64 as strings (for JavaScript); a count that is a string
    beside a rate that is a number is what a script author trips on, so numbers they stay.
    """
    from google.protobuf.json_format import MessageToDict

    data = MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _int64_as_numbers(message, data)


_INT64_TYPES = frozenset({3, 4, 6, 16, 18})  # INT64, UINT64, FIXED64, SFIXED64, SINT64


def _int64_as_numbers(message: Message, data: dict[str, Any]) -> dict[str, Any]:
    for field in message.DESCRIPTOR.fields:
        name = field.name
        if name not in data:
            continue
        repeated = isinstance(data[name], list)
        if field.type in _INT64_TYPES:
            data[name] = [int(v) for v in data[name]] if repeated else int(data[name])
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            value = getattr(message, name)
            if repeated:
                pairs = zip(value, data[name], strict=True)
                data[name] = [_int64_as_numbers(m, d) for m, d in pairs]
            else:
                data[name] = _int64_as_numbers(value, data[name])
    return data


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def print_rows(title: str, rows: list[tuple[str, str]]) -> None:
    """A two-column table in plain text: rich costs `health` a fifth of its start-up."""
    width = max((len(k) for k, _ in rows), default=0)
    print(title)
    for key, value in rows:
        print(f"  {key.ljust(width)}  {printable(value)}")

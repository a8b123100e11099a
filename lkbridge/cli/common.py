"""What every client command shares: the bridge target, auth, one-line errors, exit codes."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from lkbridge.client import BridgeClient
from lkbridge.devstack.stack import load_dev_info
from lkbridge.errors import ClientError

# exit codes, as grpc_health_probe uses them
EXIT_OK = 0
EXIT_CANNOT_CONNECT = 2
EXIT_RPC_FAILED = 3
EXIT_NOT_SERVING = 4

T = TypeVar("T")

BridgeOption = typer.Option(
    None,
    "--bridge",
    envvar="LKBRIDGE_TARGET",
    help="host:port or unix:/path of the bridge (default 127.0.0.1:9090, or the dev stack's).",
)
AuthOption = typer.Option(None, "--auth-token", envvar="LKBRIDGE_AUTH_TOKEN", show_default=False)
JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")
TimeoutOption = typer.Option(5.0, "--timeout", help="Seconds to wait for the bridge.")


def resolve_target(target: str | None) -> str:
    if target:
        return target
    info = load_dev_info()
    return info.bridge_socket if info else "127.0.0.1:9090"


def fail(message: str, code: int) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def run_call(
    target: str | None,
    auth_token: str | None,
    timeout: float,
    call: Callable[[BridgeClient], Awaitable[T]],
) -> T:
    """Run one client call; unreachable bridge -> exit 2, failed RPC -> exit 3, one line each."""
    resolved = resolve_target(target)

    async def go() -> T:
        async with BridgeClient(resolved, auth_token=auth_token, timeout=timeout) as client:
            await client.wait_ready(timeout)
            return await call(client)

    try:
        return asyncio.run(go())
    except ClientError as exc:
        if exc.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
            message = f"cannot reach the bridge at {resolved}: {exc.details}"
            raise fail(message, EXIT_CANNOT_CONNECT) from None
        raise fail(f"{exc.code}: {exc.details}", EXIT_RPC_FAILED) from None


def message_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))

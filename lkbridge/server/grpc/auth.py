"""Optional shared-token auth for the LiveKitBridge service (health and reflection stay open),
and the header-size limit on every service: refusals that read no request message."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from lkbridge.errors import FirstMessageLate
from lkbridge.server.config import SERVICE_NAME
from lkbridge.server.grpc.first_message import first_message

_PROTECTED_PREFIXES = (f"/{SERVICE_NAME}/", "/lkbridge.admin.")


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Rejects calls without `authorization: Bearer <token>`; never logs the token."""

    def __init__(self, token: str, first_message_timeout_s: float) -> None:
        self._expected = f"Bearer {token}".encode()
        self._first_message_timeout_s = first_message_timeout_s

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method or ""
        if not method.startswith(_PROTECTED_PREFIXES):
            return await continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        given = metadata.get("authorization", "")
        if isinstance(given, str):
            given = given.encode()
        if given and hmac.compare_digest(given, self._expected):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        message = "missing bearer token" if not given else "invalid bearer token"
        return deny(
            handler, grpc.StatusCode.UNAUTHENTICATED, message, self._first_message_timeout_s
        )


class HeaderSizeInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses a call whose metadata is over `limit` bytes, on every service.

    grpc core applies its header-list limit (SETTINGS_MAX_HEADER_LIST_SIZE) only once the
    client has acknowledged the server's SETTINGS: a client that never does had 93 of 100
    requests with a 1 MiB header served (issue 23, finding 11). What it sent is spent by then;
    this makes sure it is never served.
    """

    def __init__(self, limit: int, first_message_timeout_s: float) -> None:
        self._limit = limit
        self._first_message_timeout_s = first_message_timeout_s

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        size = sum(
            len(key) + len(value) + 32  # HTTP/2's own accounting (RFC 9113, 6.5.2)
            for key, value in handler_call_details.invocation_metadata or ()
        ) + len(handler_call_details.method or "")
        handler = await continuation(handler_call_details)
        if size <= self._limit:
            return handler
        message = f"request headers of {size} bytes, over the {self._limit}-byte limit"
        return deny(
            handler, grpc.StatusCode.RESOURCE_EXHAUSTED, message, self._first_message_timeout_s
        )


def deny(
    handler: grpc.RpcMethodHandler,
    code: grpc.StatusCode,
    message: str,
    first_message_timeout_s: float,
) -> grpc.RpcMethodHandler:
    """A handler that refuses. A request that is one message is never read: grpc.aio reads a
    unary request before its handler runs, so the refusal is served as a stream handler, which
    reads nothing (an unauthenticated JoinRoom costs its headers, never its message)."""

    async def abort_unread(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)
        yield  # pragma: no cover - makes this an async generator

    async def abort_after_first(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        # Take the client's first message before refusing: a refusal that overtakes a write in
        # flight reaches a grpc.aio client as INTERNAL "Internal error from Core", not as itself.
        # A client that sends none is refused all the same once the first message is late.
        if first_message_timeout_s > 0:
            with contextlib.suppress(FirstMessageLate):
                await first_message(aiter(requests), first_message_timeout_s)
        await context.abort(code, message)
        yield  # pragma: no cover - makes this an async generator

    if handler is None:
        return None
    if handler.request_streaming:
        return grpc.stream_stream_rpc_method_handler(abort_after_first)
    return grpc.stream_stream_rpc_method_handler(abort_unread)

"""Request bytes refused before they are parsed: too many for the method (RESOURCE_EXHAUSTED),
or not the method's message (INVALID_ARGUMENT); one log line.

Size: grpc core has one receive limit for every method, sized for StreamAudio's largest chunk
(config.MAX_RECEIVE_BYTES). Every other request is a few KB (a JoinRoom's longest legal fields
make 25 KiB), so a per-method limit (`limit_of`) is checked on the bytes before protobuf reads
them: a 19 MiB JoinRoom, or 1 MiB of unknown fields in a HealthCheck, is refused unparsed
instead of being parsed (unknown fields are kept, not dropped) and then judged field by field.

grpc's own answer to a message its deserializer cannot parse is UNKNOWN "Unexpected
<class 'DecodeError'>" and an ERROR traceback in the log, on every call: a client sending
garbage fills the log. This interceptor wraps every method's deserializer so that a message
that does not parse becomes a `Malformed` marker, which the wrapped handler answers with
INVALID_ARGUMENT before the servicer sees anything (for a stream, at the message that does not
parse). Such refusals are logged as one line at most every LOG_EVERY_S seconds, with a count.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from lkbridge.errors import InvalidArgument, MessageTooLarge

log = logging.getLogger(__name__)

LOG_EVERY_S = 10.0


@dataclass(frozen=True)
class Malformed:
    """What a request's bytes became when they did not parse."""

    reason: str


@dataclass(frozen=True)
class Oversized:
    """What a request's bytes became when there were more than the method takes."""

    size: int
    limit: int


class OversizedMessageError(MessageTooLarge):
    """Raised in a streaming handler's request iterator at a message over the method's limit."""


class MalformedMessageError(InvalidArgument):
    """Raised in a streaming handler's request iterator at a message that did not parse: a
    BridgeError, so a handler that ends its stream on one (StreamAudio) answers it itself."""


class MalformedRequestInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """`limit_of(method path)`: the most request bytes the method takes, None for no limit of
    its own (grpc core's still applies)."""

    def __init__(self, limit_of: Callable[[str], int | None] = lambda _: None) -> None:
        self._limit_of = limit_of
        self.refused = 0
        self._logged_at = 0.0
        self._unlogged = 0

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        path = handler_call_details.method
        return _guarded(handler, path.rsplit("/", 1)[-1], self._limit_of(path), self)

    def note(self, method: str, refused: Malformed | Oversized) -> str:
        """Count a refusal, log it (rate-limited), and give the status message."""
        self.refused += 1
        self._unlogged += 1
        if isinstance(refused, Oversized):
            message = (
                f"request too large: {refused.size} bytes, over the {refused.limit} byte limit "
                f"for a {method} message"
            )
        else:
            message = (
                f"malformed request: the bytes do not parse as a {method} message "
                f"({refused.reason})"
            )
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            log.warning("%s; %d such request(s) since the last line", message, self._unlogged)
            self._logged_at, self._unlogged = now, 0
        return message


async def _refuse(
    context: grpc.aio.ServicerContext,
    owner: MalformedRequestInterceptor,
    method: str,
    refused: Malformed | Oversized,
) -> None:
    code = (
        grpc.StatusCode.RESOURCE_EXHAUSTED
        if isinstance(refused, Oversized)
        else grpc.StatusCode.INVALID_ARGUMENT
    )
    await context.abort(code, owner.note(method, refused))


def _guarded(
    handler: grpc.RpcMethodHandler,
    method: str,
    limit: int | None,
    owner: MalformedRequestInterceptor,
) -> grpc.RpcMethodHandler:
    parse = handler.request_deserializer

    def deserialize(data: bytes) -> Any:
        if limit is not None and len(data) > limit:  # before protobuf reads a byte of it
            return Oversized(len(data), limit)
        try:
            return parse(data)
        except Exception as exc:  # protobuf's DecodeError, or anything else a parser raises
            return Malformed(type(exc).__name__)

    if not handler.request_streaming:
        behaviour = handler.unary_stream if handler.response_streaming else handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, Malformed | Oversized):
                await _refuse(context, owner, method, request)
            return await behaviour(request, context)

        async def unary_gen(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, Malformed | Oversized):
                await _refuse(context, owner, method, request)
            async for response in behaviour(request, context):
                yield response

        wrapped = unary_gen if inspect.isasyncgenfunction(behaviour) else unary
        field = "unary_stream" if handler.response_streaming else "unary_unary"
        return handler._replace(request_deserializer=deserialize, **{field: wrapped})

    behaviour = handler.stream_stream if handler.response_streaming else handler.stream_unary

    async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, Oversized):
                raise OversizedMessageError(owner.note(method, request))
            if isinstance(request, Malformed):
                raise MalformedMessageError(owner.note(method, request))
            yield request

    async def streaming(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(checked(requests), context)
        except MalformedMessageError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except OversizedMessageError as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))

    async def streaming_gen(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        try:
            async for response in behaviour(checked(requests), context):
                yield response
        except MalformedMessageError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except OversizedMessageError as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))

    chosen = streaming_gen if inspect.isasyncgenfunction(behaviour) else streaming
    field = "stream_stream" if handler.response_streaming else "stream_unary"
    return handler._replace(request_deserializer=deserialize, **{field: chosen})

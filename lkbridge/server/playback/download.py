"""Fetch a playback URL as a stream, under a `FetchPolicy` (policy/playback_url.py).

The policy's address check runs inside aiohttp's own resolver (`PolicyResolver`), on the very
answer aiohttp dials: a check made on a lookup of its own would let a name that answers
differently the second time (DNS rebinding) reach an address the policy refuses. After the first
bytes the body must keep a minimum rate, so a trickle cannot hold a playback (and its track)
until the total timeout. Imported on the first playback (decoded_url.py), with aiohttp.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from lkbridge.errors import FetchError
from lkbridge.server.policy.playback_url import (
    ALLOWED_SCHEMES,
    FetchPolicy,
    check_host,
    check_url,
    mb,
)
from lkbridge.server.redact import clip


class PolicyResolver(AbstractResolver):
    """aiohttp's resolver, refusing a host any of whose addresses the policy refuses."""

    def __init__(self, policy: FetchPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            answers = await self._inner.resolve(host, port, family)
        except OSError as exc:
            raise FetchError(
                f"cannot resolve host '{clip(host, 100)}': {exc.strerror or exc}"
            ) from None
        for answer in answers:
            refusal = self._policy.address_refusal(answer["host"])
            if refusal:
                raise FetchError(
                    f"host '{clip(host, 100)}' refused by the playback policy: {refusal}"
                )
        return answers

    async def close(self) -> None:
        await self._inner.close()


def dialled(url: str | URL, base: URL | None = None) -> URL:
    """`url` (relative to `base`, for a redirect) as aiohttp will dial it, checked for scheme and
    host; FetchError for what yarl cannot parse."""
    try:
        target = URL(url)
        if base is not None:
            target = base.join(target)
    except (ValueError, TypeError) as exc:
        what = "a redirect to an invalid URL" if base is not None else "not a valid URL"
        raise FetchError(f"audio_url is {what}: {clip(str(exc), 120)}") from None
    if target.scheme not in ALLOWED_SCHEMES:
        raise FetchError(
            f"scheme {clip(target.scheme, 20) or '(none)'!r} not allowed: use http or https"
        )
    if not target.raw_host:
        raise FetchError("audio_url has no host")
    return target


def shown(url: URL) -> str:
    """A URL as an error quotes it: clipped, printable."""
    return clip(str(url), 200)


class _MinimumRate:
    """After the first bytes, each window must bring its quota, or the download fails."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.window_s = policy.rate_window_s
        self.min_rate = policy.min_rate_bytes_per_s
        self.quota = int(policy.min_rate_bytes_per_s * policy.rate_window_s)
        self.started: float | None = None
        self.received = 0

    def deadline(self) -> float | None:
        """When the current window ends short of its quota (None: no bound now)."""
        if self.quota <= 0 or self.started is None or self.received >= self.quota:
            return None
        return self.started + self.window_s

    def record(self, size: int, now: float) -> None:
        if self.started is None or now - self.started >= self.window_s:
            if self.started is not None and self.received < self.quota:
                raise self.too_slow()
            self.started, self.received = now, 0
        self.received += size

    def too_slow(self) -> FetchError:
        return FetchError(
            f"download too slow: {self.received} bytes in {self.window_s:g} s, under the "
            f"minimum of {self.min_rate} bytes/s"
        )


class _Stalled(Exception):
    """aiohttp's read timeout, told apart from the rate window's."""


class Download:
    """An open response: `content_type`, `content_length`, and the body by chunks."""

    def __init__(
        self, session: aiohttp.ClientSession, response: aiohttp.ClientResponse, policy: FetchPolicy
    ) -> None:
        self._session = session
        self._response = response
        self._policy = policy
        self.url = str(response.url)
        self.content_type = response.headers.get("Content-Type", "")
        self.content_length = response.content_length
        self.received = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        rate = _MinimumRate(self._policy)
        try:
            while True:
                async with asyncio.timeout_at(rate.deadline()):  # its expiry: TimeoutError
                    try:
                        chunk = await self._response.content.read(self._policy.chunk_bytes)
                    except TimeoutError:  # aiohttp's own: nothing for read_timeout_s
                        raise _Stalled() from None
                if not chunk:
                    return
                rate.record(len(chunk), loop.time())
                self.received += len(chunk)
                if self.received > self._policy.max_bytes:
                    raise FetchError(f"audio file over the {mb(self._policy.max_bytes)} cap")
                yield chunk
        except _Stalled:
            raise FetchError(
                f"download stalled: no data for {self._policy.read_timeout_s:g} s"
            ) from None
        except TimeoutError:  # the window ran out short of its quota
            raise rate.too_slow() from None
        except aiohttp.ClientPayloadError:
            raise FetchError(
                f"download truncated after {self.received} bytes"
                + (f" of {self.content_length}" if self.content_length else "")
            ) from None
        except aiohttp.ClientError as exc:
            raise FetchError(f"download failed: {exc}") from None

    async def aclose(self) -> None:
        self._response.release()
        await self._session.close()


def timeout_text(exc: TimeoutError, target: URL, policy: FetchPolicy) -> str:
    """Which wait ran out: the connect, the server's answer, or the whole fetch (a server that
    accepts and never answers is not one that cannot be reached)."""
    where = clip(target.host_port_subcomponent or "", 100)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return (
            f"timed out connecting to {where} (no connection within {policy.connect_timeout_s:g} s)"
        )
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return (
            f"timed out waiting for {where} to answer (nothing within {policy.read_timeout_s:g} s)"
        )
    return f"timed out fetching from {where} (over {policy.total_timeout_s:g} s)"


async def open_download(
    url: str, policy: FetchPolicy, resolver: AbstractResolver | None = None
) -> Download:
    """Connect, follow redirects under the policy, and check the status; the body is not read.

    `resolver` answers the DNS questions (the system's by default); the policy judges its
    answers either way."""
    check_url(url)
    target = dialled(url)
    timeout = aiohttp.ClientTimeout(
        total=policy.total_timeout_s,
        sock_connect=policy.connect_timeout_s,
        sock_read=policy.read_timeout_s,
    )
    connector = aiohttp.TCPConnector(resolver=PolicyResolver(policy, resolver))
    session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True)
    seen: set[URL] = set()
    try:
        for _ in range(policy.max_redirects + 1):
            assert target.raw_host is not None  # dialled() saw to it
            check_host(target.raw_host, policy)  # the host in the form aiohttp dials it
            if target in seen:
                raise FetchError(f"redirect loop at {shown(target)}")
            seen.add(target)
            response = await session.get(target, allow_redirects=False)
            if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                response.release()
                target = dialled(response.headers["Location"], base=target)
                continue
            if response.status != 200:
                reason = clip(response.reason or "", 60)
                response.release()
                raise FetchError(
                    f"HTTP {response.status} {reason}".strip() + f" for {shown(target)}"
                )
            if response.content_length is not None and response.content_length > policy.max_bytes:
                response.release()
                raise FetchError(
                    f"audio file of {mb(response.content_length)} is over the "
                    f"{mb(policy.max_bytes)} cap"
                )
            return Download(session, response, policy)
        raise FetchError(f"too many redirects (more than {policy.max_redirects})")
    except TimeoutError as exc:
        await session.close()
        raise FetchError(timeout_text(exc, target, policy)) from None
    except aiohttp.ClientError as exc:
        await session.close()
        raise FetchError(clip(f"cannot fetch {target}: {client_error_text(exc)}", 300)) from None
    except BaseException:
        await session.close()
        raise


def client_error_text(exc: aiohttp.ClientError) -> str:
    """aiohttp's error in words about this URL: its connect errors name the TLS context
    (`ssl:default`) even for plain http, which sent readers of a refused port looking at TLS."""
    if isinstance(exc, aiohttp.ClientSSLError):  # TLS did fail: its own words say how
        return str(exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        reason = os.strerror(error.errno) if error.errno else (str(error) or type(error).__name__)
        return f"cannot connect to {exc.host}:{exc.port}: {reason}"
    return str(exc)

"""Fetch a playback URL as a stream, under a policy: timeouts, a size cap, a redirect limit,
and a host policy. Errors come out as `FetchError` with a sentence a person can act on.

Default host policy (`FetchPolicy()`): http and https only (never file://); every address a
host resolves to is checked, at each redirect too: link-local addresses (169.254.0.0/16,
fe80::/10, which hold cloud metadata services), the unspecified address and multicast are
refused. Loopback and private networks are allowed because TTS and app-audio servers commonly
sit next to the cloud; set `deny_private` to refuse them, or `allow_hosts` to allow only named
hosts (exact names or `*.suffix`).

The check runs inside aiohttp's own resolver (`PolicyResolver`), on the very answer aiohttp
dials: a check made on a lookup of its own would let a name that answers differently the second
time (DNS rebinding) reach an address the policy refuses. After the first bytes the body must keep
a minimum rate, so a trickle cannot hold a playback (and its track) until the total timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from lkbridge.errors import BridgeError

ALLOWED_SCHEMES = ("http", "https")


class FetchError(BridgeError):
    pass


@dataclass(frozen=True)
class FetchPolicy:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 300.0
    max_bytes: int = 50 * 1024 * 1024
    max_redirects: int = 5
    allow_hosts: tuple[str, ...] = ()
    deny_private: bool = False
    chunk_bytes: int = 16 * 1024
    extra_denied: tuple[str, ...] = field(default=())
    # after the first bytes, every window of this many seconds must bring min_rate x window bytes
    min_rate_bytes_per_s: int = 512
    rate_window_s: float = 5.0

    def host_allowed(self, host: str) -> bool:
        if not self.allow_hosts:
            return True
        host = host.lower().rstrip(".")
        for pattern in self.allow_hosts:
            pattern = pattern.lower()
            if pattern.startswith("*.") and (host.endswith(pattern[1:]) or host == pattern[2:]):
                return True
            if host == pattern:
                return True
        return False

    def address_refusal(self, address: str) -> str | None:
        """Why this address is refused, or None."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if ip.is_link_local:
            return "link-local (cloud metadata) address"
        if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
            return "reserved address"
        if self.deny_private and (ip.is_private or ip.is_loopback):
            return "private address"
        for network in self.extra_denied:
            if ip in ipaddress.ip_network(network, strict=False):
                return f"denied network {network}"
        return None


def check_url(url: str) -> None:
    """The checks PlayAudio answers with INVALID_ARGUMENT (before looking at any session)."""
    if not url:
        raise FetchError("audio_url is empty")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise FetchError(
            f"audio_url scheme {parts.scheme or '(none)'!r} not allowed: use http or https"
        )
    if not parts.hostname:
        raise FetchError("audio_url has no host")


def _check_host(url: str, policy: FetchPolicy) -> None:
    """The checks made before dialling: the allow-list by name, and an address written in the
    URL (aiohttp dials those without asking its resolver)."""
    host = urlsplit(url).hostname or ""
    if not policy.host_allowed(host):
        raise FetchError(f"host {host!r} is not in the playback allow-list")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return  # a name: PolicyResolver checks what it resolves to
    refusal = policy.address_refusal(host)
    if refusal:
        raise FetchError(f"host {host!r} refused by the playback policy: {refusal}")


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
            raise FetchError(f"cannot resolve host {host!r}: {exc.strerror or exc}") from None
        for answer in answers:
            refusal = self._policy.address_refusal(answer["host"])
            if refusal:
                raise FetchError(f"host {host!r} refused by the playback policy: {refusal}")
        return answers

    async def close(self) -> None:
        await self._inner.close()


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
                    raise FetchError(f"audio file over the {_mb(self._policy.max_bytes)} cap")
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


async def open_download(
    url: str, policy: FetchPolicy, resolver: AbstractResolver | None = None
) -> Download:
    """Connect, follow redirects under the policy, and check the status; the body is not read.

    `resolver` answers the DNS questions (the system's by default); the policy judges its
    answers either way."""
    check_url(url)
    timeout = aiohttp.ClientTimeout(
        total=policy.total_timeout_s,
        sock_connect=policy.connect_timeout_s,
        sock_read=policy.read_timeout_s,
    )
    connector = aiohttp.TCPConnector(resolver=PolicyResolver(policy, resolver))
    session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True)
    seen: set[str] = set()
    try:
        for _ in range(policy.max_redirects + 1):
            check_url(url)
            _check_host(url, policy)
            if url in seen:
                raise FetchError(f"redirect loop at {url}")
            seen.add(url)
            response = await session.get(url, allow_redirects=False)
            if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                response.release()
                url = urljoin(url, response.headers["Location"])
                continue
            if response.status != 200:
                reason = response.reason or ""
                response.release()
                raise FetchError(f"HTTP {response.status} {reason}".strip() + f" for {url}")
            if response.content_length is not None and response.content_length > policy.max_bytes:
                response.release()
                raise FetchError(
                    f"audio file of {_mb(response.content_length)} is over the "
                    f"{_mb(policy.max_bytes)} cap"
                )
            return Download(session, response, policy)
        raise FetchError(f"too many redirects (more than {policy.max_redirects})")
    except TimeoutError:
        await session.close()
        raise FetchError(f"timed out connecting to {urlsplit(url).netloc}") from None
    except aiohttp.ClientError as exc:
        await session.close()
        raise FetchError(f"cannot fetch {url}: {exc}") from None
    except BaseException:
        await session.close()
        raise


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"

"""Fetch a playback URL as a stream, under a policy: timeouts, a size cap, a redirect limit,
and a host policy. Errors come out as `FetchError` with a sentence a person can act on.

Default host policy (`FetchPolicy()`): http and https only (never file://); every address a
host resolves to is checked, at each redirect too: link-local addresses (169.254.0.0/16,
fe80::/10, which hold cloud metadata services), the unspecified address and multicast are
refused. Loopback and private networks are allowed because TTS and app-audio servers commonly
sit next to the cloud; set `deny_private` to refuse them, or `allow_hosts` to allow only named
hosts (exact names or `*.suffix`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import aiohttp

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


async def _check_host(url: str, policy: FetchPolicy) -> None:
    host = urlsplit(url).hostname or ""
    if not policy.host_allowed(host):
        raise FetchError(f"host {host!r} is not in the playback allow-list")
    port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc.strerror or exc}") from None
    for info in infos:
        refusal = policy.address_refusal(str(info[4][0]))
        if refusal:
            raise FetchError(f"host {host!r} refused by the playback policy: {refusal}")


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
        try:
            async for chunk in self._response.content.iter_chunked(self._policy.chunk_bytes):
                self.received += len(chunk)
                if self.received > self._policy.max_bytes:
                    raise FetchError(f"audio file over the {_mb(self._policy.max_bytes)} cap")
                yield chunk
        except TimeoutError:
            raise FetchError(
                f"download stalled: no data for {self._policy.read_timeout_s:g} s"
            ) from None
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


async def open_download(url: str, policy: FetchPolicy) -> Download:
    """Connect, follow redirects under the policy, and check the status; the body is not read."""
    check_url(url)
    timeout = aiohttp.ClientTimeout(
        total=policy.total_timeout_s,
        sock_connect=policy.connect_timeout_s,
        sock_read=policy.read_timeout_s,
    )
    session = aiohttp.ClientSession(timeout=timeout, auto_decompress=True)
    seen: set[str] = set()
    try:
        for _ in range(policy.max_redirects + 1):
            check_url(url)
            await _check_host(url, policy)
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

"""What the bridge may fetch for a playback, decided before and while it dials: schemes,
timeouts, a size cap, a redirect limit, and a host policy. Errors come out as `FetchError`
with a sentence a person can act on. The fetching itself is in download.py, which loads
aiohttp: this module does not, so an idle bridge holds no HTTP client (bench/idle_rss.py).

Default host policy (`FetchPolicy()`): http and https only (never file://); every address a
host resolves to is checked, at each redirect too: link-local addresses (169.254.0.0/16,
fe80::/10, which hold cloud metadata services), the unspecified address and multicast are
refused. Loopback and private networks are allowed because TTS and app-audio servers commonly
sit next to the cloud; set `deny_private` to refuse them, or `allow_hosts` to allow only named
hosts (exact names or `*.suffix`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lkbridge.errors import FetchError

ALLOWED_SCHEMES = ("http", "https")


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


def check_host(url: str, policy: FetchPolicy) -> None:
    """The checks made before dialling: the allow-list by name, and an address written in the
    URL (aiohttp dials those without asking its resolver)."""
    host = urlsplit(url).hostname or ""
    if not policy.host_allowed(host):
        raise FetchError(f"host {host!r} is not in the playback allow-list")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return  # a name: download.PolicyResolver checks what it resolves to
    refusal = policy.address_refusal(host)
    if refusal:
        raise FetchError(f"host {host!r} refused by the playback policy: {refusal}")


def mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"

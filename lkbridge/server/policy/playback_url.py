"""What the bridge may fetch for a playback, decided before and while it dials: schemes,
timeouts, a size cap, a redirect limit, and a host policy. Errors come out as `FetchError`
with a sentence a person can act on. The fetching itself is in download.py, which loads
aiohttp: this module does not, so an idle bridge holds no HTTP client (bench/idle_rss.py).

The host policy judges the host as it will be dialled: download.py hands `check_host` the host
after the URL library's normalisation (yarl turns `127。0。0。1` or fullwidth digits into
`127.0.0.1`, an IP literal that aiohttp dials without asking a resolver), and every address a
name resolves to is judged by the resolver aiohttp dials with, at each redirect too. Which
addresses are refused is addresses.py's rule (cloud metadata, link-local, reserved always;
loopback and private networks with `deny_private`); `allow_hosts` allows only named hosts
(exact names or `*.suffix`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lkbridge.errors import FetchError
from lkbridge.server.policy.addresses import address_refusal, parse_address
from lkbridge.server.redact import clip

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
        return address_refusal(address, deny_private=self.deny_private, denied=self.extra_denied)


def check_url(url: str) -> None:
    """The checks PlayAudio answers with INVALID_ARGUMENT (before looking at any session)."""
    if not url:
        raise FetchError("audio_url is empty")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:  # `[::1`, an NFKC `/` or `#` in the host ...
        raise FetchError(f"audio_url is not a valid URL: {clip(str(exc), 120)}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise FetchError(
            f"audio_url scheme {parts.scheme or '(none)'!r} not allowed: use http or https"
        )
    if not hostname:
        raise FetchError("audio_url has no host")


def check_host(host: str, policy: FetchPolicy) -> None:
    """The checks made before dialling `host`, given as it will be dialled (download.py): the
    allow-list by name, and an address literal (dialled without a resolver). A name's addresses
    are judged by download.PolicyResolver."""
    if not policy.host_allowed(host):
        raise FetchError(f"host '{clip(host, 100)}' is not in the playback allow-list")
    try:
        parse_address(host)
    except ValueError:
        if host.replace(".", "").isdigit():  # `127.1`, `2130706433`: aiohttp takes it as a literal
            raise FetchError(f"host '{clip(host, 100)}' is not a canonical IP address") from None
        return  # a name: download.PolicyResolver checks what it resolves to
    refusal = policy.address_refusal(host)
    if refusal:
        raise FetchError(f"host '{clip(host, 100)}' refused by the playback policy: {refusal}")


def mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"

"""A JoinRoom's livekit_url, as the SDK will dial it, judged by the address policy.

The SDK parses the URL with a WHATWG URL parser (Rust's `url` crate): it maps a host through
IDNA (`169。254。169。254`, fullwidth digits, `ⓛocalhost` become ASCII) and reads a host that
ends in a number as IPv4 in any of its old forms (`0x7f.1`, `2130706433`, `0177.0.0.1`). So
the host is put in that form here (`dialled_host`), judged in it, and the SDK is handed a URL
rebuilt around it: an ASCII host that parses to itself, so the host dialled is the host judged.
An IP literal is judged as is; a name by every address it resolves to, once (`LivekitTarget`).

A name is never handed to the SDK to resolve again where that second answer could be dialled
unchecked (DNS rebinding: a name that answers 10.0.0.5 here and 169.254.169.254 to the SDK):
over ws:// and http:// the SDK is handed the judged address itself as the URL's host (IPv4
first), so the bytes dialled go where the policy looked; the HTTP Host header then carries that
address, not the name (livekit-server ignores it; a proxy that routes plain ws:// by name would
not). Over wss:// and https:// the name stays: TLS needs it for SNI and the certificate check,
and the SDK has no way to dial one address under another name. A second answer that differs can
then get a TCP connect and a TLS ClientHello from the bridge, nothing more: the handshake fails
unless the endpoint holds a certificate for the name, and the token goes only after it.
Credentials in the URL, zone ids and what the parser would refuse are INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from lkbridge.errors import InvalidArgument, JoinFailed
from lkbridge.server.policy.addresses import IPAddress, address_refusal, parse_address
from lkbridge.server.redact import clip

log = logging.getLogger(__name__)

LIVEKIT_SCHEMES = ("ws", "wss", "http", "https")
TLS_SCHEMES = ("wss", "https")  # the name stays in the URL: TLS checks the certificate for it
# (host, port) -> the addresses it resolves to, in the resolver's order
Resolve = Callable[[str, int], Awaitable[list[str]]]
# what a WHATWG host may not hold once mapped (the URL would not parse, or would split elsewhere)
_FORBIDDEN = set(" #%/:<>?@[\\]^|") | {chr(c) for c in range(0x20)} | {"\x7f"}


def _bad(reason: str) -> InvalidArgument:
    return InvalidArgument(f"livekit_url is not a valid URL: {reason}")


def _ipv4_number(part: str) -> int | None:
    """One part of a WHATWG IPv4 host (decimal, 0x hex or 0-led octal), or None."""
    base = 10
    if part[:2].lower() == "0x":
        part, base = part[2:] or "0", 16
    elif len(part) > 1 and part.startswith("0"):
        part, base = part[1:], 8
    try:
        return int(part, base) if part.isascii() and part.isalnum() else None
    except ValueError:
        return None


def _ipv4(host: str) -> str | None:
    """The dotted quad a WHATWG parser reads `host` as, None for a domain; InvalidArgument for
    a host that ends in a number but is no IPv4 address (the parser refuses it too)."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    last = parts[-1]
    ends_in_number = last.isascii() and (
        last.isdigit()
        or (last[:2].lower() == "0x" and all(c in "0123456789abcdef" for c in last[2:].lower()))
    )
    if not ends_in_number:
        return None
    numbers = [_ipv4_number(p) if p else None for p in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise _bad("its host is neither a name nor an IPv4 address")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise _bad("an IPv4 part of its host is out of range")
    address = values[-1]
    for index, value in enumerate(values[:-1]):
        address += value * 256 ** (3 - index)
    return str(ipaddress.IPv4Address(address))


def dialled_host(host: str) -> str:
    """`host` (from urlsplit: lowercased, no brackets) in the form the SDK's parser gives it."""
    if ":" in host:  # an IPv6 literal
        if "%" in host:
            raise _bad("an IPv6 zone id is not allowed")
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise _bad("its IPv6 address does not parse") from None
    if "%" in host:
        raise _bad("a percent-encoded host is not allowed")
    if not host.isascii():
        import idna  # the UTS 46 table: loaded for a non-ASCII host only

        try:
            host = idna.uts46_remap(host, std3_rules=False, transitional=False)
            host = ".".join(  # UTS 46 ToASCII without its strict checks, as WHATWG does
                label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
                for label in host.split(".")
            )
        except idna.IDNAError as exc:
            raise _bad(
                f"its host is not a valid international name ({clip(str(exc), 80)})"
            ) from None
    host = host.lower()
    if not host or any(c in _FORBIDDEN for c in host):
        raise _bad("its host holds a character a URL host cannot")
    return _ipv4(host) or host


def normalise(url: str) -> SplitResult:
    """`url` rebuilt around its dialled host; INVALID_ARGUMENT for what cannot be one."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # `ws://[::1`, an NFKC `/` or `#` in the host, a bad port
        raise _bad(clip(str(exc), 120)) from None
    if parts.scheme not in LIVEKIT_SCHEMES or not host:
        raise InvalidArgument(
            f"livekit_url must be a ws://, wss://, http:// or https:// URL (got {clip(url, 100)!r})"
        )
    if "@" in parts.netloc:
        raise InvalidArgument("livekit_url must not carry credentials (user@host)")
    netloc = dialled_host(host) + (f":{port}" if port is not None else "")
    return parts._replace(netloc=netloc, fragment="")


class NameLookup:
    """getaddrinfo for livekit_url names, in threads of its own.

    A lookup is never cancelled (a thread cannot be): a slow one holds its thread, and its
    JoinRoom's admission slot (session/registry.py), until the system resolver gives up. Threads
    of their own keep slow names from filling the loop's default executor, which the rest of the
    bridge needs (memory trims, figures); admission bounds how many run at once.
    """

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="livekit-dns")

    async def __call__(self, host: str, port: int) -> list[str]:
        lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        answers = await asyncio.get_running_loop().run_in_executor(self._pool, lookup)
        return [str(answer[4][0]) for answer in answers]

    def close(self) -> None:
        """Lookups not started are dropped; one under way ends in its thread."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def dial_address(addresses: list[IPAddress]) -> IPAddress:
    """The address to dial among those a name resolved to (all judged): the first IPv4 one (a
    pod's IPv6 route is the one more often missing), else the first."""
    return next((a for a in addresses if a.version == 4), addresses[0])


def pinned(parts: SplitResult, address: IPAddress) -> str:
    """The URL with `address` as its host where TLS does not need the name (module docstring)."""
    if parts.scheme in TLS_SCHEMES:
        return parts.geturl()
    literal = f"[{address.compressed}]" if address.version == 6 else str(address)
    return parts._replace(
        netloc=literal + (f":{parts.port}" if parts.port is not None else "")
    ).geturl()


@dataclass(frozen=True)
class LivekitTarget:
    """A JoinRoom's normalised livekit_url, judged when the join's turn comes (`url`)."""

    parts: SplitResult
    deny_private: bool
    resolve: Resolve

    @property
    def host(self) -> str:
        return self.parts.hostname or ""

    async def url(self) -> str:
        """The URL to hand the SDK once its host passes the address policy (`judged`)."""
        return await judged(self.parts, deny_private=self.deny_private, resolve=self.resolve)


async def judged(parts: SplitResult, *, deny_private: bool, resolve: Resolve) -> str:
    """The URL to hand the SDK, once its host (every address a name resolves to) passes the
    address policy; INVALID_ARGUMENT naming the refusal otherwise. A name that does not resolve
    fails the join (JoinFailed): handed to the SDK unchecked, the SDK's own answer would pass
    unjudged. A name's URL is pinned to the address judged where the scheme allows (`pinned`).
    No timeout here: the caller's bound answers the client, the lookup ends in its thread."""
    host = parts.hostname or ""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            answers = await resolve(host, parts.port or 443)
        except OSError as exc:
            raise JoinFailed(
                f"cannot resolve livekit_url host '{clip(host, 100)}' to check it: "
                f"{clip(str(exc), 100)}"
            ) from None
        addresses = [parse_address(a) for a in answers]
        if not addresses:
            raise JoinFailed(
                f"cannot resolve livekit_url host '{clip(host, 100)}' to check it: no address"
            )
    for address in addresses:
        refusal = address_refusal(address, deny_private=deny_private)
        if refusal:
            named = f"'{clip(host, 100)}'" + ("" if str(address) == host else f" ({address})")
            raise InvalidArgument(
                f"livekit_url host {named} refused by the address policy: {refusal}"
            )
    if literal is not None:
        return parts.geturl()
    url = pinned(parts, dial_address(addresses))
    log.debug("livekit_url host %s dialled as %s", clip(host, 100), clip(url, 200))
    return url

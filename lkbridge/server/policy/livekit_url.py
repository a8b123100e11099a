"""A JoinRoom's livekit_url, as the SDK will dial it, judged by the address policy.

The SDK parses the URL with a WHATWG URL parser (Rust's `url` crate): it maps a host through
IDNA (`169。254。169。254`, fullwidth digits, `ⓛocalhost` become ASCII) and reads a host that
ends in a number as IPv4 in any of its old forms (`0x7f.1`, `2130706433`, `0177.0.0.1`). So
the host is put in that form here (`dialled_host`), judged in it, and the SDK is handed a URL
rebuilt around it: an ASCII host that parses to itself, so the host dialled is the host judged.
An IP literal is judged as is; a name by every address it resolves to now. The SDK resolves
the name again itself; a name that answers differently the second time could still reach a
refused address over ws:// (over wss:// such an endpoint would also need a certificate for the
name). Credentials in the URL, zone ids and what the parser would refuse are INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from lkbridge.errors import InvalidArgument, JoinFailed
from lkbridge.server.policy.addresses import address_refusal
from lkbridge.server.redact import clip

LIVEKIT_SCHEMES = ("ws", "wss", "http", "https")
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


async def judged(parts: SplitResult, *, deny_private: bool, resolve_timeout_s: float) -> str:
    """The URL to hand the SDK, once its host (every address a name resolves to) passes the
    address policy; INVALID_ARGUMENT naming the refusal otherwise. A name that does not resolve
    here (or not within the bound) fails the join (JoinFailed): handed to the SDK unchecked, a
    slow first answer and a second one that differs would pass the policy."""
    host = parts.hostname or ""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            answers = await asyncio.wait_for(
                loop.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM),
                resolve_timeout_s,
            )
        except (OSError, TimeoutError) as exc:
            why = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)
            raise JoinFailed(
                f"cannot resolve livekit_url host '{clip(host, 100)}' to check it: {clip(why, 100)}"
            ) from None
        addresses = [ipaddress.ip_address(str(a[4][0]).split("%", 1)[0]) for a in answers]
    for address in addresses:
        refusal = address_refusal(address, deny_private=deny_private)
        if refusal:
            named = f"'{clip(host, 100)}'" + ("" if str(address) == host else f" ({address})")
            raise InvalidArgument(
                f"livekit_url host {named} refused by the address policy: {refusal}"
            )
    return parts.geturl()

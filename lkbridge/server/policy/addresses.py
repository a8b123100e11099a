"""Which IP addresses the bridge may dial: one rule for playback downloads and for LiveKit URLs.

The judgement is made on an address, never on a name: callers hand over the address about to be
dialled (a resolver's answer, or the IP literal that the client library normalised the URL's
host into). Refused whatever the settings: cloud metadata endpoints (every link-local address,
169.254.0.0/16 and fe80::/10, and the metadata addresses clouds put elsewhere), the unspecified
address, multicast and reserved ranges. Loopback (127.0.0.0/8 and ::1 alike) and private
networks are allowed unless `deny_private`, which refuses every address that is not globally
routable (private, loopback, carrier-grade NAT 100.64.0.0/10, documentation ranges ...).

An IPv6 address that carries an IPv4 one the packets reach (IPv4-mapped ::ffff:a.b.c.d, NAT64
64:ff9b::/96, 6to4 2002::/16) is judged as that IPv4 address too: `[::ffff:169.254.169.254]`
is the metadata service.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Metadata services outside the link-local ranges (those are refused as a whole).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer
        "192.0.0.192",  # Oracle Cloud
    )
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def parse_address(text: str) -> IPAddress:
    """An IP address without its IPv6 zone id (`fe80::1%eth0`, `%25eth0` as URLs write it);
    ValueError for anything else."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one delivers to, where it names one."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(
    address: str | IPAddress, *, deny_private: bool = False, denied: Iterable[str] = ()
) -> str | None:
    """Why dialling `address` is refused, or None when it is allowed."""
    ip = parse_address(address) if isinstance(address, str) else address
    inner = embedded_ipv4(ip)
    if inner is not None:
        refusal = address_refusal(inner, deny_private=deny_private, denied=denied)
        if refusal:
            return refusal
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if ip.is_link_local:
        return "link-local (cloud metadata) address"
    if ip.is_unspecified or ip.is_multicast:
        return "reserved address"
    if ip.is_loopback:  # before is_reserved: ::1 sits in the reserved ::/8
        if deny_private:
            return "private address"
    elif ip.is_reserved and inner is None:
        return "reserved address"
    elif deny_private and not ip.is_global and inner is None:
        return "private address"
    for network in denied:
        if ip in ipaddress.ip_network(network, strict=False):
            return f"denied network {network}"
    return None

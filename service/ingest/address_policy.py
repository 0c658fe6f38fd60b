"""Which network addresses a stream may reach: public ones, plus networks an operator allow-lists.

A stream URL is chosen by whoever calls the API, and the worker opens it from inside the deployment: without
this guard it reaches Redis, cloud metadata services or anything else on the private network (SSRF). Hosts
are resolved with the system resolver, so every spelling of an address (decimal ``2130706433``, octal
``0177.0.0.1``, hex ``0x7f000001``, short ``127.1``, IPv4-mapped IPv6 ``::ffff:127.0.0.1``, upper-case names)
ends up as the address it means before it is judged. A name with several addresses is refused when any of
them is refused (a mix of public and private answers is a rebinding trick). Callers then connect to the
address that was checked, never to the name again (``service.ingest.egress`` and ``pinned_url``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED = "its address is not allowed (loopback, private, link-local, multicast, reserved or not public)"


class AddressRefused(ValueError):
    """The host resolves to an address the policy refuses, or does not resolve; the message says which."""


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo), which is where it really goes."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return None


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, judged on the IPv4 address an IPv6 one embeds."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses, plus ``allow_networks`` (say, the deployment's own RTMP ingest on 10.0.0.0/8)."""

    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, networks: Iterable[str]) -> AddressPolicy:
        """From CIDR strings; ValueError names a bad one."""
        return cls(tuple(ipaddress.ip_network(net.strip(), strict=False) for net in networks if net.strip()))

    def allows(self, address: IPAddress) -> bool:
        inner = _embedded_ipv4(address)
        candidates = (address,) if inner is None else (address, inner)
        if any(a in net for a in candidates for net in self.allow_networks if a.version == net.version):
            return True
        return is_public(address)

    def resolve(self, host: str, port: int) -> IPAddress:
        """The address to connect to for ``host``; AddressRefused when it does not resolve or is not allowed."""
        if not host or len(host) > 253:
            raise AddressRefused("the host name is empty or too long")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise AddressRefused(f"host {host!r} does not resolve") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
        if not addresses or not all(self.allows(a) for a in addresses):
            raise AddressRefused(f"host {host!r}: {REFUSED}")
        return addresses[0]


def host_literal(address: IPAddress) -> str:
    """The address as it goes in a URL's host part."""
    return f"[{address}]" if address.version == 6 else str(address)

"""The network a client address stands for, as quotas and the anti-sybil rules count it: an IPv4 address on
its own, an IPv6 address by its /64 (one subscriber's allocation: counting single IPv6 addresses would give
one client 2^64 budgets). The key is a hash, so services keep no client address at rest."""

from __future__ import annotations

import hashlib
import ipaddress


def network_key(addr: str | None) -> str | None:
    """A stable key of the client's network, or None when the address is unknown or not an IP address."""
    if not addr:
        return None
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    net = str(ip) if ip.version == 4 else str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return hashlib.sha256(net.encode()).hexdigest()[:32]

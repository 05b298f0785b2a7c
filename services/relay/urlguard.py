"""Webhook URLs must not reach private, loopback or link-local addresses (SSRF), at registration and at
send time (the delivery connector resolves and checks every address, which also defeats DNS rebinding)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from shared.errors import BadRequest


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_url(url: str, allow_private: bool) -> None:
    """400 for a URL that is not http(s) or that resolves to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("Webhook url must be an http(s) URL with a host")
    if allow_private:
        return
    host = parts.hostname
    try:
        addresses = (
            [host]
            if _is_ip(host)
            else [
                str(info[4][0])
                for info in await asyncio.get_running_loop().getaddrinfo(
                    host, parts.port or 443, type=socket.SOCK_STREAM
                )
            ]
        )
    except OSError:
        return  # unresolvable now: accepted; every delivery re-checks what the name resolves to then
    if not all(public_address(a) for a in addresses):
        raise BadRequest("Webhook url must not point to a private, loopback or link-local address")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class PublicOnlyResolver(AbstractResolver):
    """aiohttp resolver that refuses non-public addresses (used for deliveries unless allowed)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if public_address(r["host"])]
        if not allowed:
            raise OSError(f"{host} resolves only to non-public addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()

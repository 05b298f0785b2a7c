"""HTTP calls to addresses that tenants give (webhooks, A2A push notifications, outside agent cards): the
SSRF guard, the guarded client, retry back-off, signatures, and failure descriptions in our own words.

Such URLs must not reach private, loopback or link-local addresses, at registration and at send time (the
client's connector resolves and checks every address, which also defeats DNS rebinding).

An IPv6 address may carry an IPv4 address inside it, and a gateway or the host's own stack may reach that
IPv4 address for it: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), IPv4-translated
(`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::/96`, and the local-use `64:ff9b:1::/48`), 6to4 (`2002::/16`) and
Teredo (`2001::/32`, server and client). Such an address is public only if every address it carries is."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import random
import socket
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from shared.errors import BadRequest

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: a local translator, never public
COMPATIBLE = ipaddress.IPv6Network("::/96")  # ::a.b.c.d (deprecated IPv4-compatible)
TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # ::ffff:0:a.b.c.d (SIIT)


def embedded(ip: ipaddress.IPv6Address) -> list[IP]:
    """The IPv4 addresses an IPv6 address carries (none for an ordinary one)."""
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    found: list[IP] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in NAT64 or ip in TRANSLATED or (ip in COMPATIBLE and int(ip) > 1):
        found.append(low)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL:
            return False
        if ip.ipv4_mapped is not None:  # ::ffff:8.8.8.8 is 8.8.8.8 to the host's stack
            ip = ip.ipv4_mapped
        elif not all(a.is_global and not a.is_multicast for a in embedded(ip)):
            return False
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


MAX_DELAY_S = 2 * 3600.0  # the longest wait between two attempts


def backoff(attempt: int, base: float) -> float:
    """Delay before attempt n+1: exponential, capped, with jitter (half to full of the step)."""
    step = min(MAX_DELAY_S, base * 2 ** (attempt - 1))
    return random.uniform(step / 2, step)


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The original's X-MoltGrid-Signature (hex HMAC-SHA256 of the body) and the Standard Webhooks one."""
    key = secret.encode()
    standard = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "X-MoltGrid-Signature": hmac.new(key, body, hashlib.sha256).hexdigest(),
        "webhook-signature": "v1," + base64.b64encode(standard).decode(),
    }


def failure(exc: BaseException) -> str:
    """What went wrong with a POST, in our words only: never the receiver's bytes (a service on a port that
    does not speak HTTP answers with its banner, which would turn webhooks into a port scanner)."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror if exc.os_error.strerror else str(exc.os_error)
        return f"could not connect ({reason})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the receiver closed the connection without an answer"
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return "not an HTTP response"
    if isinstance(exc, aiohttp.ClientError):
        return "the request failed"
    return "could not connect"


class GuardedClient:
    """An HTTP client for tenant-given addresses: unless private addresses are allowed, its resolver refuses
    every non-public address (the SSRF guard at send time)."""

    def __init__(self, allow_private: bool, connections: int = 32, timeout_s: float = 10.0) -> None:
        self.allow_private, self.connections, self.timeout_s = allow_private, connections, timeout_s
        self._http: aiohttp.ClientSession | None = None

    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            resolver = None if self.allow_private else PublicOnlyResolver()
            connector = aiohttp.TCPConnector(limit=self.connections, resolver=resolver)
            self._http = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

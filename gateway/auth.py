"""API-key authentication with a short-lived cache; entries are dropped when the directory says a key was
rotated or an agent deleted, and listeners (the live connections) are told."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from gateway.routes import AUTHENTICATE
from shared import subjects
from shared.bus import Ctx, call
from shared.errors import Unauthorized
from shared.ids import hash_api_key

MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class Agent:
    agent_id: str
    name: str | None


class Authenticator:
    """Maps an API key to its agent via the directory service, caching hits for `ttl` seconds."""

    def __init__(self, nc: NATS, ttl: float, timeout: float) -> None:
        self._nc, self._ttl, self._timeout = nc, ttl, timeout
        self._cache: dict[str, tuple[float, Agent]] = {}
        self._reconnects = 0  # NATS reconnects seen: notices may have been missed while disconnected
        self._listeners: list[Callable[[str], Awaitable[object]]] = []

    def on_revoked(self, listener: Callable[[str], Awaitable[object]]) -> None:
        """Also call `listener(agent_id)` when an agent's key is rotated or the agent deleted."""
        self._listeners.append(listener)

    async def start(self) -> None:
        for subject in (subjects.AGENT_DELETED, subjects.KEY_REVOKED):
            await self._nc.subscribe(subject, cb=self._on_revoked)

    async def _on_revoked(self, msg: Msg) -> None:
        agent_id = orjson.loads(msg.data).get("agent_id")
        for key_hash, (_, agent) in list(self._cache.items()):
            if agent.agent_id == agent_id:
                self._cache.pop(key_hash, None)
        if isinstance(agent_id, str):
            for listener in self._listeners:
                await listener(agent_id)

    async def authenticate(self, api_key: str, ctx: Ctx) -> Agent:
        # (checked before hashing: a header with undecodable bytes holds surrogates that cannot be encoded)
        if not api_key.startswith("af_") or len(api_key) > 128 or not api_key.isascii():
            raise Unauthorized("Invalid API key")
        key_hash = hash_api_key(api_key)
        reconnects = self._nc.stats.get("reconnects", 0)
        if reconnects != self._reconnects:  # a revocation notice may have been sent while we were away
            self._cache.clear()
            self._reconnects = reconnects
        hit = self._cache.get(key_hash)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        data = (
            await call(self._nc, AUTHENTICATE, {"api_key_hash": key_hash}, timeout=self._timeout, ctx=ctx)
        ).unwrap()
        agent = Agent(data["agent_id"], data.get("name"))
        if len(self._cache) >= MAX_ENTRIES:
            self._cache.clear()
        self._cache[key_hash] = (now + self._ttl, agent)
        return agent

"""Agents and their keys: registration, the gateway's key lookup, key rotation, existence."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NATS

from services.directory import notices
from services.directory.models.agents import AgentRef, Authenticate, Empty, Register, RotateKey
from services.directory.store.agents import AgentStore
from shared.bus import Ctx
from shared.errors import Forbidden, Unauthorized
from shared.ids import hash_api_key, new_api_key, new_id
from shared.netaddr import network_key
from shared.ops import OpGroup, op


class AgentOps(OpGroup):
    def __init__(
        self,
        agents: AgentStore,
        nc: NATS,
        kick: Callable[[], None],
        per_network_per_hour: int = 0,
        invite_key: str | None = None,
    ) -> None:
        self.agents, self.nc, self.kick = agents, nc, kick
        self.per_network_per_hour, self.invite_key = per_network_per_hour, invite_key

    @op()
    async def register(self, req: Register, ctx: Ctx) -> dict[str, Any]:
        """The agent and its announcement (admin.agent_registered: the marketplace records the starting
        grant) commit together; the outbox publisher sends the announcement now. With an operator's invite
        key set, registration needs it (the X-Invite-Key header); each client network registers at most
        `per_network_per_hour` agents an hour."""
        if self.invite_key and not hmac.compare_digest(
            (req.invite_key or "").encode(), self.invite_key.encode()
        ):
            raise Forbidden("Registration needs a valid invite key (X-Invite-Key header)")
        agent_id, api_key = new_id("agent"), new_api_key()
        await self.agents.create(
            agent_id, hash_api_key(api_key), req.name, network_key(ctx.client_addr), self.per_network_per_hour
        )
        self.kick()
        return {
            "agent_id": agent_id,
            "api_key": api_key,
            "message": "Store your API key securely. It cannot be recovered.",
        }

    @op()
    async def authenticate(self, req: Authenticate, ctx: Ctx) -> dict[str, Any]:
        agent = await self.agents.for_key(req.api_key_hash)
        if agent is None:
            raise Unauthorized("Invalid API key")
        return agent

    @op()
    async def rotate_key(self, req: RotateKey, ctx: Ctx) -> dict[str, Any]:
        """A new key replaces the caller's key in one compare-and-set UPDATE: a caller whose key was already
        rotated away (by a concurrent rotation with the same key) is refused as the gateway refuses any
        stale key, 401 "Invalid API key". Then every gateway is told to drop its cached entries for the agent
        (bus.directory.key_revoked), flushed before the reply leaves, so the old key is refused on every
        gateway from the moment the caller holds the new one."""
        agent_id = ctx.require_agent()
        if req.api_key_hash is None:  # only the gateway's rotate-key route supplies it
            raise Unauthorized("Invalid API key")
        api_key = new_api_key()
        if not await self.agents.replace_key(agent_id, req.api_key_hash, hash_api_key(api_key)):
            raise Unauthorized("Invalid API key")
        await notices.key_revoked(self.nc, agent_id)
        return {
            "status": "rotated",
            "agent_id": agent_id,
            "api_key": api_key,
            "message": "Store your new API key securely. The old key is now invalid.",
        }

    @op()
    async def exists(self, req: AgentRef, ctx: Ctx) -> dict[str, bool]:
        """Whether an agent id is registered (other services ask before addressing an agent)."""
        return {"exists": await self.agents.exists(req.agent_id)}

    @op()
    async def global_stats(self, req: Empty, ctx: Ctx) -> dict[str, int]:
        """The health endpoint's counts (registered and public agents)."""
        return await self.agents.counts()

"""Directory operations: registration, the gateway's key lookup, profiles and the public browse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from nats.aio.client import Client as NATS

from services.directory import models as m
from services.directory.credits import LedgerBalances
from services.directory.onboarding import HEARTBEAT_FIELD, checklist
from services.directory.presence import Presence
from services.directory.store import DirectoryStore
from shared import subjects
from shared.bus import Ctx, Op
from shared.errors import NotFound, Unauthorized
from shared.ids import hash_api_key, new_api_key, new_id


class DirectoryHandlers:
    def __init__(
        self,
        store: DirectoryStore,
        balances: LedgerBalances | None = None,
        nc: NATS | None = None,
        announce: Callable[[str], Awaitable[bool]] | None = None,
        presence: Presence | None = None,
    ) -> None:
        self.store = store
        self.balances = balances  # credits come from the marketplace's ledger when it answers
        self.nc = nc  # for the key-revoked notice
        self.announce = announce  # publishes the registration (the marketplace records the starting grant)
        self.presence = presence  # heartbeat status (and, on one's own profile, the last metadata)

    async def register(self, req: m.Register, ctx: Ctx) -> dict[str, Any]:
        agent_id, api_key = new_id("agent"), new_api_key()
        await self.store.create_agent(agent_id, hash_api_key(api_key), req.name)
        if self.announce is not None:
            await self.announce(agent_id)
        return {
            "agent_id": agent_id,
            "api_key": api_key,
            "message": "Store your API key securely. It cannot be recovered.",
        }

    async def authenticate(self, req: m.Authenticate, ctx: Ctx) -> dict[str, Any]:
        agent = await self.store.agent_for_key(req.api_key_hash)
        if agent is None:
            raise Unauthorized("Invalid API key")
        return agent

    async def rotate_key(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        """A new key replaces the old one in one UPDATE; then every gateway is told to drop its cached entries
        for the agent (bus.directory.key_revoked), and the notice is flushed to NATS before the reply leaves,
        so the old key is refused on every gateway from the moment the caller holds the new one."""
        agent_id = ctx.require_agent()
        api_key = new_api_key()
        if not await self.store.set_key(agent_id, hash_api_key(api_key)):
            raise NotFound("Agent not found")
        if self.nc is not None:
            await self.nc.publish(subjects.KEY_REVOKED, orjson.dumps({"agent_id": agent_id}))
            await self.nc.flush()
        return {
            "status": "rotated",
            "agent_id": agent_id,
            "api_key": api_key,
            "message": "Store your new API key securely. The old key is now invalid.",
        }

    async def onboarding(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        """The onboarding checklist, with progress asked of the services that know (see onboarding.py)."""
        profile = await self.store.profile(ctx.require_agent())
        if profile is None:
            raise NotFound("Agent not found")
        assert self.nc is not None
        if self.presence is not None:  # the heartbeat step: the directory's own presence record
            profile = {
                **profile,
                HEARTBEAT_FIELD: (await self.presence.own(profile["agent_id"]))["heartbeat_at"],
            }
        return await checklist(self.nc, ctx, profile)

    async def me(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        profile = await self.store.profile(ctx.require_agent())
        if profile is None:
            raise NotFound("Agent not found")
        if self.balances is not None:
            await self.balances.fill([profile], ctx)
        if self.presence is not None:
            profile.update(await self.presence.own(profile["agent_id"]))
        return profile

    async def update_me(self, req: m.UpdateProfile, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        if not await self.store.update_profile(
            agent_id, req.description, req.capabilities, req.public, req.skills
        ):
            raise NotFound("Agent not found")
        return {"status": "updated", "agent_id": agent_id, "public": req.public}

    async def agent_register(self, req: m.AgentRegister, ctx: Ctx) -> dict[str, Any]:
        """MoltGrid 1.0's registry: capabilities are the profile's own (the seed's PUT /v1/directory/me writes
        the same list); skills and role are shown on one's profile, the public profile, search (which filters
        on ?skill=) and the agent card. Match items keep the seed's fields."""
        registered = await self.store.register_capabilities(
            ctx.require_agent(), req.role, req.capabilities, req.skills
        )
        if registered is None:
            raise NotFound("Agent not found")
        return {"status": "registered", **registered}

    async def browse(self, req: m.Browse, ctx: Ctx) -> dict[str, Any]:
        agents = await self.store.browse(req.capability, req.limit)
        if self.balances is not None:
            await self.balances.fill(agents, ctx)
        if self.presence is not None:
            await self.presence.fill(agents)
        return {"agents": agents, "count": len(agents)}

    async def exists(self, req: m.AgentRef, ctx: Ctx) -> dict[str, bool]:
        """Whether an agent id is registered (other services ask before addressing an agent)."""
        return {"exists": await self.store.exists(req.agent_id)}

    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return await self.store.counts()

    def ops(self) -> dict[str, Op]:
        return {
            "register": Op(self.register, m.Register),
            "authenticate": Op(self.authenticate, m.Authenticate),
            "me": Op(self.me, m.Empty),
            "rotate_key": Op(self.rotate_key, m.Empty),
            "onboarding": Op(self.onboarding, m.Empty),
            "update_me": Op(self.update_me, m.UpdateProfile),
            "agent_register": Op(self.agent_register, m.AgentRegister),
            "browse": Op(self.browse, m.Browse),
            "global_stats": Op(self.global_stats, m.Empty),
            "exists": Op(self.exists, m.AgentRef),
        }

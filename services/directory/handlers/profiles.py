"""An agent's own profile: reading and updating it, the registry's role/capabilities/skills, availability,
and the onboarding checklist built on it."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from services.directory.handlers.onboarding import HEARTBEAT_FIELD, checklist
from services.directory.models.agents import Empty
from services.directory.models.profiles import AgentRegister, StatusUpdate, UpdateProfile
from services.directory.peers import Peers
from services.directory.store.agents import AgentStore
from services.directory.store.presence import PresenceStore
from services.directory.store.profiles import ProfileStore
from shared.bus import Ctx
from shared.errors import BadRequest, NotFound
from shared.ops import OpGroup, op

# The heartbeat period (seconds) one's profile recommends, as 1.0's `heartbeat_interval`; well inside the
# presence timeout (MOLTGRID_PRESENCE_TIMEOUT_SECONDS, 180 by default).
HEARTBEAT_INTERVAL = 60


class ProfileOps(OpGroup):
    def __init__(
        self, agents: AgentStore, profiles: ProfileStore, presence: PresenceStore, peers: Peers, nc: NATS
    ) -> None:
        self.agents, self.profiles, self.presence, self.peers, self.nc = agents, profiles, presence, peers, nc

    async def _profile(self, agent_id: str) -> dict[str, Any]:
        profile = await self.agents.profile(agent_id)
        if profile is None:
            raise NotFound("Agent not found")
        return profile

    @op()
    async def me(self, req: Empty, ctx: Ctx) -> dict[str, Any]:
        """One's own profile: credits from the ledger, and one's presence with its metadata."""
        profile = await self._profile(ctx.require_agent())
        await self.peers.fill_balances([profile], ctx)
        profile.update(await self.presence.own(profile["agent_id"]))
        return {**profile, "heartbeat_interval": HEARTBEAT_INTERVAL}

    @op()
    async def update_me(self, req: UpdateProfile, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        if not await self.profiles.update(
            agent_id, req.description, req.capabilities, req.public, req.skills, req.interests
        ):
            raise NotFound("Agent not found")
        return {"status": "updated", "agent_id": agent_id, "public": req.public}

    @op()
    async def agent_register(self, req: AgentRegister, ctx: Ctx) -> dict[str, Any]:
        """POST /v1/agents/register: capabilities are the profile's own (PUT /v1/directory/me writes the same
        list); skills and role are shown on one's profile, the public profile, search (which filters on
        ?skill=) and the agent card. Match items keep the original's fields."""
        registered = await self.profiles.register_capabilities(
            ctx.require_agent(), req.role, req.capabilities, req.skills
        )
        if registered is None:
            raise NotFound("Agent not found")
        return {"status": "registered", **registered}

    @op()
    async def update_status(self, req: StatusUpdate, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        if req.available is None and req.looking_for is None and req.busy_until is None:
            raise BadRequest("No fields to update")
        # as the original: a busy_until alone makes the agent unavailable
        available = False if req.available is None and req.busy_until is not None else req.available
        if not await self.profiles.update_status(agent_id, available, req.looking_for, req.busy_until):
            raise NotFound("Agent not found")
        return {"status": "updated", "agent_id": agent_id}

    @op()
    async def onboarding(self, req: Empty, ctx: Ctx) -> dict[str, Any]:
        """The onboarding checklist, with progress asked of the services that know (see onboarding.py)."""
        profile = await self._profile(ctx.require_agent())
        beat = (await self.presence.own(profile["agent_id"]))["heartbeat_at"]
        return await checklist(self.nc, ctx, {**profile, HEARTBEAT_FIELD: beat})

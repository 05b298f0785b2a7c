"""Collaborations and ratings: logging a collaboration (which rates the partner), counting the
marketplace's review ratings, and an agent's own collaborations."""

from __future__ import annotations

from typing import Any

from services.directory.models.reputation import Collaboration, Page, RecordRating
from services.directory.store.reputation import ReputationStore
from shared.bus import Ctx
from shared.errors import BadRequest, NotFound
from shared.ids import new_id
from shared.ops import OpGroup, op
from shared.timeutil import iso

OUTCOMES = ("success", "failure", "partial")


class ReputationOps(OpGroup):
    def __init__(self, reputation: ReputationStore) -> None:
        self.reputation = reputation

    @op()
    async def collaborate(self, req: Collaboration, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        if req.outcome not in OUTCOMES:
            raise BadRequest("outcome must be: success, failure, or partial")
        if req.partner_agent == agent_id:
            raise BadRequest("Cannot rate yourself")
        collaboration_id = new_id("collab")
        done = await self.reputation.collaborate(
            collaboration_id, agent_id, req.partner_agent, req.task_type, req.outcome, req.rating
        )
        if done is None:
            raise NotFound("Partner agent not found")
        reputation, created = done
        return {
            "collaboration_id": collaboration_id,
            "agent_id": agent_id,
            "partner_agent": req.partner_agent,
            "task_type": req.task_type,
            "outcome": req.outcome,
            "rating": req.rating,
            "partner_new_reputation": reputation,
            "created_at": iso(created),
        }

    @op()
    async def record_rating(self, req: RecordRating, ctx: Ctx) -> dict[str, Any]:
        """Count a rating (from the marketplace's reviews) into the agent's reputation, once per rating_id."""
        recorded = await self.reputation.record_rating(req.rating_id, req.agent_id, req.rating, req.source)
        if recorded is None:
            raise NotFound("Agent not found")
        rep, fresh = recorded
        return {"agent_id": req.agent_id, "rating_id": req.rating_id, "recorded": fresh, **rep}

    @op()
    async def collaborations(self, req: Page, ctx: Ctx) -> dict[str, Any]:
        items = await self.reputation.of_agent(ctx.require_agent(), req.limit, req.offset)
        return {"collaborations": items, "count": len(items)}

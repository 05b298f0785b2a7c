"""Scenario operations: define a coordination scenario, run it for real over NATS, read its results; the
service's stats and admin listing (scenarios are what the service counts)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.coordination.scenarios import models as m
from services.coordination.scenarios.patterns import PATTERNS
from services.coordination.scenarios.runner import run_pattern
from services.coordination.scenarios.store import ScenarioStore
from shared.admin import AdminPage, page
from shared.bus import Ctx
from shared.errors import BadRequest, Forbidden, NotFound
from shared.ids import new_id
from shared.ops import OpGroup, op

VALID = sorted(PATTERNS)


class ScenarioHandlers(OpGroup):
    def __init__(self, store: ScenarioStore, nats_servers: list[str], max_runs: int) -> None:
        self.store, self.nats_servers = store, nats_servers
        self.runs = asyncio.Semaphore(max_runs)  # concurrent runs per replica; more wait their turn

    @op()
    async def create(self, req: m.Create, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        if req.pattern not in PATTERNS:
            raise BadRequest(f"Invalid pattern. Valid: {VALID}")
        scenario_id = new_id("scenario")
        created = await self.store.create(
            scenario_id,
            agent_id,
            req.name,
            req.pattern,
            req.agent_count,
            req.timeout_seconds,
            req.success_criteria,
        )
        return {
            "scenario_id": scenario_id,
            "status": "created",
            "pattern": req.pattern,
            "created_at": created,
        }

    @op("list")
    async def list_scenarios(self, req: m.List, ctx: Ctx) -> dict[str, Any]:
        scenarios = await self.store.list_scenarios(ctx.require_agent(), req.pattern, req.status, req.limit)
        return {"scenarios": scenarios, "count": len(scenarios)}

    @op()
    async def run(self, req: m.ScenarioRef, ctx: Ctx) -> dict[str, Any]:
        """Runs the pattern now and answers with its result (bounded by the scenario's timeout_seconds)."""
        agent_id = ctx.require_agent()
        s = await self.store.get(req.scenario_id)
        if s is None:
            raise NotFound("Scenario not found")
        if s["creator_agent"] != agent_id:
            raise Forbidden("Only the creator can run this scenario")
        run_id = new_id("run")
        async with self.runs:
            await self.store.start_run(s["scenario_id"], run_id)
            results = await run_pattern(
                self.nats_servers,
                run_id,
                s["pattern"],
                s["agent_count"],
                s["timeout_seconds"],
                s["success_criteria"] or {},
            )
            completed = await self.store.finish_run(s["scenario_id"], run_id, results)
        return {
            "scenario_id": s["scenario_id"],
            "status": "completed",
            "results": results,
            "completed_at": completed,
        }

    @op()
    async def results(self, req: m.ScenarioRef, ctx: Ctx) -> dict[str, Any]:
        s = await self.store.get(req.scenario_id)
        if s is None or s["creator_agent"] != ctx.require_agent():  # another agent's scenario is private
            raise NotFound("Scenario not found")
        return s

    # ── internal: stats, cascade delete, admin panel ──
    @op()
    async def agent_stats(self, req: m.AgentRef, ctx: Ctx) -> dict[str, int]:
        agent_id = ctx.agent_or_named(req.agent_id)
        return {"scenarios_created": await self.store.count(agent_id)}

    @op()
    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return {"scenarios": await self.store.count()}

    @op(admin=True)
    async def admin_scenarios(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items = await self.store.admin_list(req.agent_id, req.status, req.limit, req.offset)
        return page(items, await self.store.count(req.agent_id), req)

    @op()
    async def admin_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return {"scenarios": await self.store.count()}

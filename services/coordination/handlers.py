"""Coordination testing (scenarios that really run over NATS) and the text utilities."""

from __future__ import annotations

import asyncio
from typing import Any

from services.coordination import models as m
from services.coordination.patterns import PATTERNS
from services.coordination.runner import run_pattern
from services.coordination.store import ScenarioStore
from services.coordination.text import OPERATIONS
from shared.admin import AdminPage, page
from shared.bus import Ctx, Op
from shared.errors import BadRequest, Forbidden, NotFound
from shared.ids import new_id

VALID = sorted(PATTERNS)


class CoordinationHandlers:
    def __init__(self, store: ScenarioStore, nats_servers: list[str], max_runs: int) -> None:
        self.store, self.nats_servers = store, nats_servers
        self.runs = asyncio.Semaphore(max_runs)  # concurrent runs per replica; more wait their turn

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

    async def list(self, req: m.List, ctx: Ctx) -> dict[str, Any]:
        scenarios = await self.store.list(ctx.require_agent(), req.pattern, req.status, req.limit)
        return {"scenarios": scenarios, "count": len(scenarios)}

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

    async def results(self, req: m.ScenarioRef, ctx: Ctx) -> dict[str, Any]:
        s = await self.store.get(req.scenario_id)
        if s is None or s["creator_agent"] != ctx.require_agent():  # another agent's scenario is private
            raise NotFound("Scenario not found")
        return s

    async def text_process(self, req: m.TextProcess, ctx: Ctx) -> dict[str, Any]:
        ctx.require_agent()
        op = OPERATIONS.get(req.operation)
        if op is None:
            raise BadRequest(f"Unknown operation. Available: {list(OPERATIONS)}")
        try:
            result = op(req.text)
        except ValueError as exc:
            raise BadRequest(f"Operation failed: {exc}") from None
        return {"operation": req.operation, "result": result}

    # ── internal: stats, cascade delete, admin panel ──
    async def agent_stats(self, req: m.AgentRef, ctx: Ctx) -> dict[str, int]:
        agent_id = ctx.agent_or_named(req.agent_id)
        return {"scenarios_created": await self.store.count(agent_id)}

    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return {"scenarios": await self.store.count()}

    async def admin_scenarios(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        items = await self.store.admin_list(req.agent_id, req.status, req.limit, req.offset)
        return page(items, await self.store.count(req.agent_id), req)

    async def admin_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return {"scenarios": await self.store.count()}

    def ops(self) -> dict[str, Op]:
        return {
            "create": Op(self.create, m.Create),
            "list": Op(self.list, m.List),
            "run": Op(self.run, m.ScenarioRef),
            "results": Op(self.results, m.ScenarioRef),
            "text_process": Op(self.text_process, m.TextProcess),
            "agent_stats": Op(self.agent_stats, m.AgentRef),
            "global_stats": Op(self.global_stats, m.Empty),
            "admin_scenarios": Op(self.admin_scenarios, AdminPage),
            "admin_stats": Op(self.admin_stats, m.Empty),
        }

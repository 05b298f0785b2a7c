"""Scenario operations: define a coordination scenario, run it for real over NATS, read its results; the
service's stats and admin listing (scenarios are what the service counts)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

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
ABANDONED = "the run was interrupted: its replica stopped before it finished"
log = structlog.get_logger("coordination.scenarios")


class ScenarioHandlers(OpGroup):
    def __init__(self, store: ScenarioStore, nats_servers: list[str], max_runs: int, grace_s: float) -> None:
        self.store, self.nats_servers, self.grace_s = store, nats_servers, grace_s
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
            try:
                results = await run_pattern(
                    self.nats_servers,
                    run_id,
                    s["pattern"],
                    s["agent_count"],
                    s["timeout_seconds"],
                    s["success_criteria"] or {},
                )
            except asyncio.CancelledError:  # the replica is stopping: the run still ends with a status
                await asyncio.shield(self._fail(s, run_id, "the run was interrupted: its replica stopped"))
                raise
            except Exception as exc:  # NATS refused the run's traffic (a slow consumer, a full buffer…)
                log.warning("scenario_run_failed", scenario_id=s["scenario_id"], error=repr(exc))
                results, completed = await self._fail(
                    s, run_id, f"the run broke: {type(exc).__name__}: {exc}"
                )
                return {
                    "scenario_id": s["scenario_id"],
                    "status": "failed",
                    "results": results,
                    "completed_at": completed,
                }
            completed = await self.store.finish_run(s["scenario_id"], run_id, results)
        return {
            "scenario_id": s["scenario_id"],
            "status": "completed",
            "results": results,
            "completed_at": completed,
        }

    async def _fail(self, s: dict[str, Any], run_id: str, reason: str) -> tuple[dict[str, Any], str | None]:
        results = {
            "pattern": s["pattern"],
            "success": False,
            "agent_count": s["agent_count"],
            "failures": [reason],
            "error": reason,
        }
        return results, await self.store.fail_run(s["scenario_id"], run_id, results)

    async def end_abandoned_runs(self) -> int:
        """Runs whose replica died mid-run (nothing else ends them): failed, once past timeout + grace."""
        return await self.store.fail_abandoned(self.grace_s, ABANDONED)

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

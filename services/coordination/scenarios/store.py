"""The store of `coordination.scenarios`: every SQL statement on scenario definitions and their runs."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.timeutil import iso

COLUMNS = (
    "scenario_id, creator_agent, name, pattern, agent_count, timeout_seconds, success_criteria, status,"
    " results, created_at, completed_at"
)


def _row(r: asyncpg.Record) -> dict[str, Any]:
    return {**dict(r), "created_at": iso(r["created_at"]), "completed_at": iso(r["completed_at"])}


class ScenarioStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self,
        scenario_id: str,
        agent_id: str,
        name: str | None,
        pattern: str,
        agent_count: int,
        timeout_seconds: int,
        criteria: dict[str, Any] | None,
    ) -> str | None:
        created = await self.pool.fetchval(
            "INSERT INTO coordination.scenarios (scenario_id, creator_agent, name, pattern, agent_count,"
            " timeout_seconds, success_criteria) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at",
            scenario_id,
            agent_id,
            name,
            pattern,
            agent_count,
            timeout_seconds,
            criteria,
        )
        return iso(created)

    async def get(self, scenario_id: str) -> dict[str, Any] | None:
        r = await self.pool.fetchrow(
            f"SELECT {COLUMNS} FROM coordination.scenarios WHERE scenario_id = $1", scenario_id
        )
        return _row(r) if r else None

    async def list_scenarios(
        self, agent_id: str, pattern: str | None, status: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"SELECT {COLUMNS} FROM coordination.scenarios WHERE creator_agent = $1"
            " AND ($2::text IS NULL OR pattern = $2) AND ($3::text IS NULL OR status = $3)"
            " ORDER BY created_at DESC LIMIT $4",
            agent_id,
            pattern,
            status,
            limit,
        )
        return [_row(r) for r in rows]

    async def start_run(self, scenario_id: str, run_id: str) -> None:
        await self.pool.execute(
            "UPDATE coordination.scenarios SET status = 'running', run_id = $2, runs = runs + 1,"
            " started_at = now() WHERE scenario_id = $1",
            scenario_id,
            run_id,
        )

    async def finish_run(self, scenario_id: str, run_id: str, results: dict[str, Any]) -> str | None:
        """Store a run's results unless a later run of the same scenario has started since."""
        done = await self.pool.fetchval(
            "UPDATE coordination.scenarios SET status = 'completed', results = $3, completed_at = now()"
            " WHERE scenario_id = $1 AND run_id = $2 RETURNING completed_at",
            scenario_id,
            run_id,
            results,
        )
        return iso(done)

    async def fail_run(self, scenario_id: str, run_id: str, results: dict[str, Any]) -> str | None:
        """End a run that broke as `failed`, its results saying why (unless a later run has started)."""
        done = await self.pool.fetchval(
            "UPDATE coordination.scenarios SET status = 'failed', results = $3, completed_at = now()"
            " WHERE scenario_id = $1 AND run_id = $2 RETURNING completed_at",
            scenario_id,
            run_id,
            results,
        )
        return iso(done)

    async def fail_abandoned(self, grace_s: float, reason: str) -> int:
        """End as `failed` every run still `running` well past its timeout: its replica stopped mid-run."""
        status = await self.pool.execute(
            "UPDATE coordination.scenarios SET status = 'failed', completed_at = now(),"
            " results = jsonb_build_object('pattern', pattern, 'success', false, 'agent_count', agent_count,"
            " 'failures', jsonb_build_array($2::text), 'error', $2::text)"
            " WHERE status = 'running'"
            " AND coalesce(started_at, created_at) < now() - make_interval(secs => timeout_seconds + $1::float8)",
            grace_s,
            reason,
        )
        return int(status.split()[-1])

    async def purge_agent(self, agent_id: str) -> int:
        status = await self.pool.execute(
            "DELETE FROM coordination.scenarios WHERE creator_agent = $1", agent_id
        )
        return int(status.split()[-1])

    async def count(self, agent_id: str | None = None) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM coordination.scenarios WHERE $1::text IS NULL OR creator_agent = $1",
                agent_id,
            )
        )

    async def admin_list(
        self, agent_id: str | None, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"SELECT {COLUMNS} FROM coordination.scenarios WHERE ($1::text IS NULL OR creator_agent = $1)"
            " AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC LIMIT $3 OFFSET $4",
            agent_id,
            status,
            limit,
            offset,
        )
        return [_row(r) for r in rows]

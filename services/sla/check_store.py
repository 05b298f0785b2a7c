"""The store of `sla.checks`: every uptime check recorded, and the SLA windows computed from them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from shared.timeutil import iso

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def _window(total: int, ok: int, avg_ms: float | None) -> dict[str, Any]:
    return {
        "uptime_pct": round(100.0 * ok / total, 3) if total else 100.0,
        "total_checks": total,
        "successful_checks": ok,
        "avg_response_ms": round(avg_ms or 0.0, 2),
    }


class CheckStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, slot: int, status: str, response_ms: float, services: dict[str, Any]) -> bool:
        """Insert this slot's check; False when another replica already recorded it."""
        row = await self._pool.fetchval(
            "INSERT INTO sla.checks (slot, status, response_ms, services) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (slot) DO NOTHING RETURNING id",
            slot,
            status,
            response_ms,
            services,
        )
        return row is not None

    async def windows(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, span in WINDOWS.items():
            r = await self._pool.fetchrow(
                "SELECT count(*) AS total, count(*) FILTER (WHERE status = 'up') AS ok, avg(response_ms) AS avg_ms"
                " FROM sla.checks WHERE checked_at > now() - $1::interval",
                span,
            )
            out[name] = _window(r["total"], r["ok"], r["avg_ms"])
        return out

    async def service_windows(self) -> dict[str, dict[str, Any]]:
        """Per-service uptime and latency over each window (additive breakdown)."""
        out: dict[str, dict[str, Any]] = {}
        for name, span in WINDOWS.items():
            rows = await self._pool.fetch(
                "SELECT s.key AS service, count(*) AS total,"
                " count(*) FILTER (WHERE s.value->>'status' = 'up') AS ok,"
                " avg((s.value->>'response_ms')::float8) AS avg_ms"
                " FROM sla.checks c, jsonb_each(c.services) s WHERE c.checked_at > now() - $1::interval"
                " GROUP BY s.key ORDER BY s.key",
                span,
            )
            for r in rows:
                out.setdefault(r["service"], {})[name] = _window(r["total"], r["ok"], r["avg_ms"])
        return out

    async def last(self) -> dict[str, Any] | None:
        r = await self._pool.fetchrow(
            "SELECT id, checked_at, status, response_ms FROM sla.checks ORDER BY checked_at DESC LIMIT 1"
        )
        if r is None:
            return None
        return {
            "id": r["id"],
            "checked_at": iso(r["checked_at"]),
            "status": r["status"],
            "response_ms": round(r["response_ms"], 2),
        }

    async def timeline(self, hours: int = 24) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT id, checked_at, status, response_ms, services FROM sla.checks"
            " WHERE checked_at > now() - make_interval(hours => $1) ORDER BY checked_at",
            hours,
        )
        return [
            {
                "id": r["id"],
                "checked_at": iso(r["checked_at"]),
                "status": r["status"],
                "response_ms": round(r["response_ms"], 2),
                "services": r["services"],
            }
            for r in rows
        ]

    async def prune(self, keep_days: int = 35) -> None:
        await self._pool.execute(
            "DELETE FROM sla.checks WHERE checked_at < now() - make_interval(days => $1)", keep_days
        )

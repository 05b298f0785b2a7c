"""SLA operations, by what they serve: uptime (periodic probes of every service over NATS, the SLA report
and timeline), the contact form, and the admin panel's stats and dashboard."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nats.aio.client import Client as NATS

from services.sla import models as m
from services.sla.check_store import CheckStore
from services.sla.contact_store import ContactStore
from services.sla.mailer import Mailer
from shared import subjects
from shared.admin import AdminPage, page
from shared.bus import Ctx, call
from shared.ops import OpGroup, op

SLA_TARGET = "99.9%"


class UptimeHandlers(OpGroup):
    def __init__(
        self, store: CheckStore, nc: NATS, services: list[str], interval_s: float, encryption_enabled: bool
    ) -> None:
        self.store, self.nc, self.services = store, nc, services
        self.interval_s, self.encryption_enabled = interval_s, encryption_enabled

    async def probe(self) -> dict[str, dict[str, Any]]:
        async def one(name: str) -> tuple[str, dict[str, Any]]:
            started = time.perf_counter()
            reply = await call(self.nc, subjects.svc(name, "health"), {}, timeout=min(5.0, self.interval_s))
            ms = round((time.perf_counter() - started) * 1000, 2)
            return name, {"status": "up" if reply.ok else "down", "response_ms": ms}

        return dict(await asyncio.gather(*(one(s) for s in self.services)))

    async def check(self) -> bool:
        """Probe everything and record this interval's check (once, whichever replica gets there first)."""
        results = await self.probe()
        up = sum(1 for r in results.values() if r["status"] == "up")
        status = "up" if up == len(results) else ("degraded" if up else "down")
        slowest = max((r["response_ms"] for r in results.values()), default=0.0)
        return await self.store.record(int(time.time() // self.interval_s), status, slowest, results)

    @op()
    async def report(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        last = await self.store.last()
        status = {"up": "operational", "degraded": "degraded", "down": "down"}.get(
            last["status"] if last else "up", "operational"
        )
        return {
            "sla_target": SLA_TARGET,
            "current_status": status,
            "windows": await self.store.windows(),
            "last_check": last,
            "check_interval_seconds": int(self.interval_s),
            "encryption_enabled": self.encryption_enabled,
            "services": await self.store.service_windows(),
        }

    @op()
    async def timeline(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        checks = await self.store.timeline()
        return {"checks": checks, "count": len(checks)}

    @op(admin=True)
    async def admin_sla(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        return {**await self.report(req, ctx), "timeline": await self.store.timeline()}


class ContactHandlers(OpGroup):
    def __init__(self, contacts: ContactStore, mailer: Mailer) -> None:
        self.contacts, self.mailer = contacts, mailer

    @op()
    async def contact_submit(self, req: m.ContactForm, ctx: Ctx) -> dict[str, Any]:
        cid = await self.contacts.add(req.name, req.email, req.subject, req.message, ctx.client_addr)
        if self.mailer.configured:
            self.mailer.send_soon()
        return {"status": "sent", "id": cid}

    @op(admin=True)
    async def contact_list(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.contacts.list_submissions(req.limit, req.offset)
        return page(items, total, req)


class AdminHandlers(OpGroup):
    def __init__(
        self,
        checks: CheckStore,
        contacts: ContactStore,
        nc: NATS,
        services: list[str],
        encryption_enabled: bool,
    ) -> None:
        self.checks, self.contacts, self.nc, self.services = checks, contacts, nc, services
        self.encryption_enabled = encryption_enabled

    @op()
    async def admin_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        _, total = await self.contacts.list_submissions(1, 0)
        windows = await self.checks.windows()
        return {"contact_submissions": total, "uptime_24h_pct": windows["24h"]["uptime_pct"]}

    @op(admin=True)
    async def admin_dashboard(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        """Every service's admin_stats, gathered concurrently; a silent service degrades its cards only."""
        replies = await asyncio.gather(
            *(call(self.nc, subjects.svc(s, "admin_stats"), {}, timeout=2.0, ctx=ctx) for s in self.services)
        )
        stats: dict[str, Any] = {}
        for reply in replies:
            if reply.ok and isinstance(reply.data, dict):
                stats.update(reply.data)
        return {
            "stats": stats,
            "encryption_enabled": self.encryption_enabled,
            "services": {s: ("up" if r.ok else r.code) for s, r in zip(self.services, replies, strict=False)},
        }

"""The platform service: uptime SLA (periodic probes of every service over NATS) and the contact form."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nats.aio.client import Client as NATS

from services.sla import models as m
from services.sla.contact import ContactStore, Mailer
from services.sla.store import SlaStore
from shared import subjects
from shared.admin import AdminPage, page
from shared.bus import Ctx, Op, call

SLA_TARGET = "99.9%"


class SlaHandlers:
    def __init__(
        self,
        store: SlaStore,
        contacts: ContactStore,
        mailer: Mailer,
        nc: NATS,
        services: list[str],
        interval_s: float,
        encryption_enabled: bool,
    ) -> None:
        self.store, self.contacts, self.mailer, self.nc, self.services = store, contacts, mailer, nc, services
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

    async def timeline(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        checks = await self.store.timeline()
        return {"checks": checks, "count": len(checks)}

    async def contact_submit(self, req: m.ContactForm, ctx: Ctx) -> dict[str, Any]:
        cid = await self.contacts.add(req.name, req.email, req.subject, req.message, ctx.client_addr)
        if self.mailer.configured:
            self.mailer.send_soon()
        return {"status": "sent", "id": cid}

    async def contact_list(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        items, total = await self.contacts.list(req.limit, req.offset)
        return page(items, total, req)

    async def admin_sla(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        return {**await self.report(req, ctx), "timeline": await self.store.timeline()}

    async def admin_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        _, total = await self.contacts.list(1, 0)
        windows = await self.store.windows()
        return {"contact_submissions": total, "uptime_24h_pct": windows["24h"]["uptime_pct"]}

    async def admin_dashboard(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        """Every service's admin_stats, gathered concurrently; a silent service degrades its cards only."""
        ctx.require_admin()
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

    def ops(self) -> dict[str, Op]:
        return {
            "report": Op(self.report, m.Empty),
            "timeline": Op(self.timeline, m.Empty),
            "contact_submit": Op(self.contact_submit, m.ContactForm),
            "contact_list": Op(self.contact_list, AdminPage),
            "admin_sla": Op(self.admin_sla, m.Empty),
            "admin_stats": Op(self.admin_stats, m.Empty),
            "admin_dashboard": Op(self.admin_dashboard, m.Empty),
        }

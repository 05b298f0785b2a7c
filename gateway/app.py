"""The gateway application: middlewares, the routing table, health and the API root."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import admin, live, middleware, openapi
from gateway.forward import forwarder
from gateway.http import json_response
from gateway.routes import ADMIN_ROUTES, ROUTES
from gateway.state import NC, SETTINGS
from shared import metrics, subjects, tracing
from shared.bus import call
from shared.config import API_VERSION, VERSION
from shared.timeutil import iso, utcnow

HEALTH_STATS = (
    "registered_agents",
    "public_agents",
    "total_jobs",
    "memory_keys_stored",
    "shared_memory_keys",
    "messages_relayed",
    "active_webhooks",
    "active_schedules",
    "websocket_connections",
)
ROOT_ENDPOINTS = {
    "register": "POST /v1/register",
    "memory": "/v1/memory",
    "shared_memory": "/v1/shared-memory",
    "queue": "/v1/queue",
    "schedules": "/v1/schedules",
    "relay": "/v1/relay",
    "relay_ws": "WS /v1/relay/ws",
    "webhooks": "/v1/webhooks",
    "directory": "/v1/directory",
    "directory_search": "GET /v1/directory/search",
    "directory_match": "GET /v1/directory/match",
    "marketplace": "/v1/marketplace/tasks",
    "testing": "/v1/testing/scenarios",
    "text": "/v1/text/process",
    "health": "GET /v1/health",
    "sla": "GET /v1/sla",
}
HEALTH_CACHE = web.AppKey("health_cache", dict)


STATIC = Path(__file__).parent / "static"


async def contact_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "contact.html")


async def root(request: web.Request) -> web.Response:
    return json_response(
        {
            "service": "MoltGrid",
            "version": API_VERSION,
            "docs": "/docs",
            "description": "Open-source toolkit API for autonomous agents",
            "endpoints": ROOT_ENDPOINTS,
        }
    )


async def _probe(request: web.Request) -> dict[str, Any]:
    """Ping every service and gather the global counts; cached briefly since load balancers poll it. One probe
    at a time: requests arriving while it runs share its result (no herd of probes when the cache expires
    under load, each costing every service two requests and a count query)."""
    cache = request.app[HEALTH_CACHE]
    if cache.get("at", 0.0) > time.monotonic():
        return cache["value"]
    running = cache.get("running")
    if running is None or running.done():
        running = cache["running"] = asyncio.ensure_future(_fresh_probe(request))
    return await asyncio.shield(running)


async def _fresh_probe(request: web.Request) -> dict[str, Any]:
    cache = request.app[HEALTH_CACHE]
    nc = request.app[NC]

    async def one(name: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        started = time.perf_counter()
        ping = await call(nc, subjects.svc(name, "health"), {}, timeout=1.0)
        latency = round((time.perf_counter() - started) * 1000, 2)
        state = {"status": "up" if ping.ok else "down", "latency_ms": latency}
        if not ping.ok:
            state["error"] = ping.code
            return name, state, {}
        counts = await call(nc, subjects.svc(name, "global_stats"), {}, timeout=1.0)
        return name, state, counts.data if counts.ok and isinstance(counts.data, dict) else {}

    results = await asyncio.gather(*(one(n) for n in request.app[SETTINGS].service_names()))
    stats = dict.fromkeys(HEALTH_STATS, 0)
    services = {}
    for name, state, counts in results:
        services[name] = state
        stats.update({k: v for k, v in counts.items() if k in stats})
    value = {"services": services, "stats": stats}
    cache.update(at=time.monotonic() + request.app[SETTINGS].health_cache_s, value=value)
    return value


async def health(request: web.Request) -> web.Response:
    probe = await _probe(request)
    up = sum(1 for s in probe["services"].values() if s["status"] == "up")
    status = "operational" if up == len(probe["services"]) else ("degraded" if up else "down")
    if status == "down" and not request.app[NC].is_connected:  # NATS restarting: the gateway reconnects
        status = "degraded"
    stats = dict(probe["stats"])
    if live.HUB in request.app:  # sockets held by this gateway replica
        stats["websocket_connections"] = request.app[live.HUB].count
    return json_response(
        {
            "status": status,
            "version": API_VERSION,
            "server_version": VERSION,
            "stats": stats,
            "timestamp": iso(utcnow()),
            "encryption_enabled": request.app[SETTINGS].encryption_enabled,
            "services": probe["services"],
        }
    )


async def mcp_endpoint(request: web.Request) -> web.StreamResponse:
    """The MCP server (Streamable HTTP). Its module and the SDK load on first use: idle gateways stay small."""
    from gateway import mcp_http

    return await mcp_http.handle(request)


mcp_endpoint.auth = True  # type: ignore[attr-defined]  # the guard authenticates and rate-limits it
mcp_endpoint.bearer = True  # type: ignore[attr-defined]  # MCP clients often send `Authorization: Bearer <key>`


async def _close_mcp(app: web.Application) -> None:
    if "gateway.mcp_http" in sys.modules:
        await sys.modules["gateway.mcp_http"].close(app)


async def prometheus(request: web.Request) -> web.Response:
    """Metrics of every gateway and service replica, merged (scraped over NATS)."""
    # Every gateway replica (this one included) and every service replica answers the scrape.
    texts = await metrics.scrape_all(request.app[NC]) or [generate_latest(metrics.REGISTRY)]
    return web.Response(body=metrics.merge(texts), headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(settings: Any) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            *([middleware.trace] if tracing.ENABLED else []),
            middleware.observe,
            middleware.request_id,
            middleware.errors,
            middleware.cors,
            middleware.guard,
        ],
    )
    app[SETTINGS] = settings
    app[HEALTH_CACHE] = {}
    app.router.add_get("/", root)
    app.router.add_get("/v1/health", health)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/contact", contact_page)
    app.router.add_route("*", "/mcp", mcp_endpoint)
    app.on_cleanup.append(_close_mcp)
    admin.setup(app)
    openapi.setup(app)
    live.setup(app)
    for route in (*ROUTES, *ADMIN_ROUTES):
        app.router.add_route(route.method, route.path, forwarder(route, settings.request_timeout))
    return app

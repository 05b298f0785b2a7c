"""The gateway application: middlewares, every row of the routing table registered, health and the API root."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import a2a, admin, live, middleware, openapi
from gateway.config import GatewaySettings
from gateway.forward import forwarder
from gateway.http import BODY_TIMEOUT, json_response
from gateway.middleware import Handler
from gateway.routes import TABLE, Kind
from gateway.state import NC, POOL, SETTINGS
from shared import metrics, subjects, tracing
from shared.bus import Ctx, call
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
METRICS_CACHE = web.AppKey("metrics_cache", dict)


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
        cached: dict[str, Any] = cache["value"]
        return cached
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
    body = {
        "status": status,
        "version": API_VERSION,
        "server_version": VERSION,
        "stats": stats,
        "timestamp": iso(utcnow()),
        "encryption_enabled": request.app[SETTINGS].encryption_enabled,
        "services": probe["services"],
    }
    ctx: Ctx = request["ctx"]
    if ctx.agent_id is not None:  # 1.0's component view, for a caller with a valid key
        body["components"] = await _components(request, probe["services"])
    return json_response(body)


def _state(ok: bool, detail: str | None = None, bad: str = "error") -> dict[str, Any]:
    return {"status": "ok" if ok else bad, **({"detail": detail} if detail else {})}


async def _components(request: web.Request, services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`database`, `relay`, `websocket`, `sse`, each {"status": "ok"|"degraded"|"error", "detail"?}, as this
    gateway sees them: its own database pool, the relay's probe, its NATS link (sockets are pushed over it) and
    the EVENTS stream the SSE stream and the events socket read."""
    app = request.app
    nc = app[NC]

    async def database() -> dict[str, Any]:
        try:
            await asyncio.wait_for(app[POOL].fetchval("SELECT 1"), 1.0)
        except Exception as exc:
            return _state(False, type(exc).__name__)
        return _state(True)

    async def sse() -> dict[str, Any]:
        try:
            await asyncio.wait_for(nc.jetstream().stream_info(subjects.EVENTS_STREAM), 1.0)
        except Exception as exc:
            return _state(False, type(exc).__name__)
        return _state(True)

    relay = services.get("relay", {})
    sockets = app[live.HUB].count if live.HUB in app else 0
    db, stream = await asyncio.gather(database(), sse())
    return {
        "database": db,
        "relay": _state(relay.get("status") == "up", relay.get("error")),
        "websocket": _state(nc.is_connected, f"{sockets} connections on this gateway", bad="degraded"),
        "sse": stream,
    }


async def mcp_endpoint(request: web.Request) -> web.StreamResponse:
    """The MCP server (Streamable HTTP). Its module and the SDK load on first use: idle gateways stay small."""
    from gateway import mcp_http

    return await mcp_http.handle(request)


async def _close_mcp(app: web.Application) -> None:
    if "gateway.mcp_http" in sys.modules:
        await sys.modules["gateway.mcp_http"].close(app)


async def prometheus(request: web.Request) -> web.Response:
    """Metrics of every gateway and service replica, merged (scraped over NATS). The merged scrape is reused
    for `metrics_cache_s` and made by one request at a time (the others share it): a scrape asks every
    replica and takes a few hundred ms, so repeated anonymous calls must not each pay for one."""
    cache = request.app[METRICS_CACHE]
    if cache.get("at", 0.0) <= time.monotonic():
        running = cache.get("running")
        if running is None or running.done():
            running = cache["running"] = asyncio.ensure_future(_scrape(request.app))
        await asyncio.shield(running)
    return web.Response(body=cache["body"], headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _scrape(app: web.Application) -> None:
    # Every gateway replica (this one included) and every service replica answers the scrape.
    texts = await metrics.scrape_all(app[NC]) or [generate_latest(metrics.REGISTRY)]
    app[METRICS_CACHE].update(body=metrics.merge(texts), at=time.monotonic() + app[SETTINGS].metrics_cache_s)


def handlers() -> dict[str, Handler]:
    """The gateway's own handlers, by the name their routing-table row gives."""
    return {
        "root": root,
        "health": health,
        "metrics": prometheus,
        "openapi": openapi.openapi_json,
        "docs": openapi.docs_page,
        "contact_page": contact_page,
        "relay_socket": live.relay_socket,
        "events_socket": live.events_socket,
        "event_stream": live.event_stream,
        "agent_event_stream": live.agent_event_stream,
        "mcp": mcp_endpoint,
        "admin_page": admin.page,
        "admin_login_page": admin.login_page,
        "admin_login": admin.login,
        "admin_logout": admin.logout,
        "a2a_hub_card": a2a.hub_card,
        "a2a_agent_card": a2a.agent_card,
        "a2a_jsonrpc": a2a.jsonrpc,
        "a2a_rest": a2a.rest,
    }


# Directories served by STATIC rows whose path is a prefix, by handler name.
STATIC_DIRS: dict[str, Callable[[], Path]] = {"swagger_static": openapi.swagger_static}


def register(app: web.Application, settings: GatewaySettings) -> None:
    """Register every row of the routing table; a row without a handler (or a handler without a row) is a
    programming error, refused here so the gateway never starts with a route it does not show."""
    own = handlers()
    named = {r.handler for r in TABLE if r.kind is not Kind.FORWARD}
    unused = set(own) - named
    if unused:
        raise RuntimeError(f"gateway handlers without a routing-table row: {sorted(unused)}")
    for route in TABLE:
        handler: Handler
        if route.kind is Kind.FORWARD:
            handler = forwarder(route, settings.request_timeout)
        elif route.handler in STATIC_DIRS:
            app.router.add_static(route.path, STATIC_DIRS[route.handler]())
            continue
        elif route.handler in own:
            handler = own[route.handler]
        else:
            raise RuntimeError(f"routing-table row {route.method} {route.path} names no handler")
        if route.kind is not Kind.FORWARD and route.method == "GET":
            app.router.add_get(route.path, handler)  # with its HEAD twin, as probes and crawlers send
        else:
            app.router.add_route(route.method, route.path, handler)


def create_app(settings: GatewaySettings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            *([middleware.trace] if tracing.ENABLED else []),
            middleware.observe,
            middleware.request_id,
            middleware.errors,
            middleware.cors,
            middleware.guard,
            middleware.decode_body,
        ],
    )
    app[SETTINGS] = settings
    app[HEALTH_CACHE] = {}
    app[METRICS_CACHE] = {}
    app[BODY_TIMEOUT] = settings.body_timeout_s
    app.on_response_prepare.append(middleware.stamp)
    app.on_cleanup.append(_close_mcp)
    openapi.setup(app)
    register(app, settings)
    return app

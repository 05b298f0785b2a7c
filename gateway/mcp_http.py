"""The gateway's /mcp endpoint: the MCP server over Streamable HTTP, inside the aiohttp gateway.

/mcp is an ordinary aiohttp route, so the request takes the same path as any REST request: request id, error
handling, CORS, then the guard authenticates the agent's API key (X-API-Key, or `Authorization: Bearer`) and
spends one request of its rate limit. Its handler then hands the request to the SDK's
`StreamableHTTPSessionManager` — an ASGI application — through aiohttp-asgi's request bridge (`ASGIContext`:
aiohttp request → ASGI scope/receive/send → aiohttp response). The authenticated channel (a `BusBackend`
holding the request's `Ctx`) rides in the ASGI scope's `state`, where the tool handlers find it; a client
cannot forge it, since it never passes through headers.

The manager runs stateless with JSON responses: every POST carries one JSON-RPC message and is answered
whole, so any gateway replica can serve any request (no session affinity), which is how the gateway scales.

This module imports the SDK (Starlette, pydantic models, …); the gateway imports it only on the first /mcp
request, so a gateway nobody asks for MCP never pays for it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp_asgi.resource import ASGIContext
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from nats.aio.client import Client as NATS

from gateway import openapi
from gateway.forward import MAX_JSON_DEPTH, too_deep
from gateway.http import error_detail
from gateway.mcp_schemas import Schemas
from gateway.mcp_server import Backend, Outcome, build_server
from gateway.routes import Route
from gateway.state import NC, SETTINGS
from shared.bus import Ctx, call

SCOPE_KEY = "moltgrid_backend"
ALL_FROM_BODY = {"*": "body"}  # a tool's arguments play the part of a JSON body in validation errors


@dataclass(frozen=True, slots=True)
class BusBackend:
    """Calls a route's NATS subject as the authenticated agent — what the gateway's forwarder does."""

    nc: NATS
    ctx: Ctx
    default_timeout: float

    async def call(self, route: Route, args: dict[str, Any]) -> Outcome:
        if too_deep(repr(args), args):
            return Outcome(False, status=422, detail=f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        reply = await call(
            self.nc, route.subject, args, timeout=route.timeout or self.default_timeout, ctx=self.ctx
        )
        if reply.ok:
            return Outcome(True, reply.data, route.status)
        status, detail = error_detail(reply.code, reply.message, reply.details, ALL_FROM_BODY)
        return Outcome(False, status=status, detail=detail)


def backend_of(ctx: ServerRequestContext[Any, Any]) -> Backend:
    backend: Backend = ctx.request.scope["state"][SCOPE_KEY]  # type: ignore[union-attr]
    return backend


class McpEndpoint:
    """The SDK's session manager, run by a task of its own (its task group must live in one task)."""

    def __init__(self, app: web.Application) -> None:
        async def described() -> tuple[dict[str, Any], bool]:
            return await openapi.document(app)

        self.manager = StreamableHTTPSessionManager(
            app=build_server(backend_of, Schemas(described)),
            json_response=True,
            stateless=True,
            max_request_body_size=app[SETTINGS].max_body_bytes,
        )
        self._stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async with self.manager.run():
                self._ready.set()
                await self._stop.wait()
        finally:
            self._ready.set()  # never leave a request waiting on a manager that failed to start

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await self._ready.wait()
        if self._task.done():  # the manager failed: its exception becomes the errors middleware's 500
            self._task.result()
            raise RuntimeError("MCP endpoint stopped")
        settings = request.app[SETTINGS]
        backend = BusBackend(request.app[NC], request["ctx"], settings.request_timeout)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = {SCOPE_KEY: backend}
            await self.manager.handle_request(scope, receive, send)

        return await ASGIContext(app, request, root_path="").get_response()

    async def close(self) -> None:
        self._stop.set()
        await asyncio.gather(self._task, return_exceptions=True)


_endpoints: dict[int, McpEndpoint] = {}


async def handle(request: web.Request) -> web.StreamResponse:
    """Serve one /mcp request (the endpoint starts on first use)."""
    endpoint = _endpoints.get(id(request.app))
    if endpoint is None:
        endpoint = _endpoints[id(request.app)] = McpEndpoint(request.app)
    return await endpoint.handle(request)


async def close(app: web.Application) -> None:
    endpoint = _endpoints.pop(id(app), None)
    if endpoint is not None:
        await endpoint.close()

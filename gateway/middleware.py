"""Gateway middlewares, outermost first: request id → errors → CORS → auth + rate limit."""

from __future__ import annotations

import itertools
import os
import re
import time
import zlib
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway.admin import COOKIE as ADMIN_COOKIE
from gateway.admin import session_valid
from gateway.forward import KEY_HASH
from gateway.http import BODY, REQUEST_ID, error_response, read_within, status_error_response
from gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.ratelimit import Decision
from gateway.routes import ADMIN, PUBLIC, Kind, Route, route_of
from gateway.state import AUTH, IDEMPOTENCY, LIMITER, POOL, SETTINGS, USAGE
from shared import metrics, tracing
from shared.bus import Ctx
from shared.config import VERSION
from shared.errors import ServiceError
from shared.ids import hash_api_key

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
# Generated ids: a random per-process prefix plus a counter — unique, and cheaper than a uuid4 per request.
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)
log = structlog.get_logger("gateway")
HTTP_REQUESTS, HTTP_SECONDS = metrics.Children(metrics.HTTP_REQUESTS), metrics.Children(metrics.HTTP_SECONDS)


RATE_HEADERS = "rate_headers"


async def stamp(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer as it is prepared (errors, public routes, streams and sockets included): the server's
    version, and on an authenticated answer the caller's rate-limit state."""
    response.headers["X-MoltGrid-Version"] = VERSION
    rate = request.get(RATE_HEADERS)
    if rate is not None:
        for name, value in rate.items():
            response.headers.setdefault(name, value)


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every request by route pattern (never by raw path: ids would explode the labels)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        HTTP_REQUESTS(metrics.INSTANCE, route, request.method, str(status)).inc()
        HTTP_SECONDS(metrics.INSTANCE, route, request.method).observe(time.perf_counter() - started)


@web.middleware
async def trace(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request's SERVER span, the root of its trace (or a child of the caller's `traceparent`); installed
    only when tracing is on."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    with tracing.span(
        f"{request.method} {route}",
        "SERVER",
        request.headers,
        {"http.request.method": request.method, "http.route": route, "url.path": request.path},
    ) as current:
        response = await handler(request)
        current.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            tracing.fail(current, str(response.status))
        return response


@web.middleware
async def request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request.headers.get("X-Request-ID", "")
    if not SAFE_REQUEST_ID.match(rid):
        rid = f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"
    request["ctx"] = Ctx(request_id=rid, client_addr=request.remote)
    REQUEST_ID.set(rid)
    structlog.contextvars.bind_contextvars(request_id=rid, agent_id=None)
    response = await handler(request)
    response.headers["X-Request-ID"] = rid
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            return error_response("too_large", "Request body too large")
        return status_error_response(exc.status, exc.reason, _keep(exc))
    except ServiceError as exc:
        return error_response(exc.code, exc.message, exc.details)
    except Exception:
        log.exception("request_crashed", path=request.path)
        return error_response("internal", "Internal server error")


def _keep(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k.lower() == "allow"}


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    allowed = request.app[SETTINGS].cors_origins
    allow = origin and (allowed == "*" or origin in [o.strip() for o in allowed.split(",")])
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=204 if allow else 403)
        if allow:
            response.headers.update(
                {
                    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
                    "Access-Control-Allow-Headers": request.headers.get(
                        "Access-Control-Request-Headers", "*"
                    ),
                    "Access-Control-Max-Age": "600",
                }
            )
    else:
        response = await handler(request)
    if allow and not response.prepared:
        response.headers["Access-Control-Allow-Origin"] = "*" if allowed == "*" else origin  # type: ignore[assignment]
        response.headers["Access-Control-Expose-Headers"] = (
            "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, "
            "Idempotent-Replayed, ETag, X-MoltGrid-Version"
        )
        if allowed != "*":
            response.headers["Vary"] = "Origin"
    return response


def _rate_headers(d: Decision) -> dict[str, str]:
    h = {
        "X-RateLimit-Limit": str(d.limit),
        "X-RateLimit-Remaining": str(d.remaining),
        "X-RateLimit-Reset": str(d.reset_s),
    }
    if not d.allowed:
        h["Retry-After"] = str(d.retry_after_s)
    return h


DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


@web.middleware
async def decode_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request bodies are decoded here, not by aiohttp's parser (which answers encodings it lacks a package
    for with a plain-text 400): identity, gzip and deflate are read, bounded by the body limit after
    decoding; anything else is a 400 in the contract's shape. The decoded body is `request[BODY]`."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return await handler(request)
    wbits = DECODERS.get(encoding)
    if wbits is None:
        return error_response(
            "bad_request", f"Unsupported Content-Encoding: {encoding} (send identity, gzip or deflate)"
        )
    limit = request.app[SETTINGS].max_body_bytes
    decoder = zlib.decompressobj(wbits)
    try:
        body = decoder.decompress(await read_within(request), limit + 1)
    except zlib.error:
        return error_response("bad_request", f"Body is not valid {encoding}")
    if len(body) > limit or decoder.unconsumed_tail:
        return error_response("too_large", "Request body too large")
    request[BODY] = body
    return await handler(request)


def _api_key(request: web.Request, route: Route) -> str | None:
    """The key where the row says it may come: X-API-Key always; `?api_key=` and `Authorization: Bearer`
    only on the rows that declare them (sockets and event streams; MCP)."""
    key = request.headers.get("X-API-Key")
    if not key and route.key_in_query:
        key = request.query.get("api_key")
    if not key and route.bearer:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else None
    return key or None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate by the routing-table row's `access` (the one auth mechanism), then apply the shared
    per-agent rate limit. A request that matched no row (404, 405) needs nothing."""
    resource = request.match_info.route.resource
    route = route_of(request.method, resource.canonical) if resource is not None else None
    if route is None:
        return await handler(request)
    if route.access is ADMIN:
        if not await session_valid(request.app[POOL], request.cookies.get(ADMIN_COOKIE)):
            if route.kind is Kind.STATIC:  # a page: to the login form
                raise web.HTTPFound("/admin/login")
            return error_response("unauthorized", "Admin session required")
        ctx = request["ctx"]
        request["ctx"] = Ctx(request_id=ctx.request_id, client_addr=ctx.client_addr, admin=True)
        return await handler(request)
    if route.access is PUBLIC:
        await _identify_if_keyed(request, route)
        if route.per_client_limit:
            return await _client_limited(request, handler, route)
        return await handler(request)
    api_key = _api_key(request, route)
    if not api_key:
        return await _refuse(request, route, "unauthorized", "Missing X-API-Key header")
    ctx = request["ctx"]
    try:
        agent = await request.app[AUTH].authenticate(api_key, ctx)
    except ServiceError as exc:
        return await _refuse(request, route, exc.code, exc.message)
    request["ctx"] = Ctx(request_id=ctx.request_id, agent_id=agent.agent_id, client_addr=ctx.client_addr)
    request["agent"] = agent
    request[KEY_HASH] = hash_api_key(api_key)
    request.app[USAGE].count(agent.agent_id)
    structlog.contextvars.bind_contextvars(agent_id=agent.agent_id)
    limiter = request.app[LIMITER]
    decision = None
    if limiter.enabled:
        try:
            decision = await limiter.check(agent.agent_id)
        except ServiceError as exc:
            return error_response(exc.code, exc.message)
        if not decision.allowed:
            return error_response(
                "rate_limited", f"Rate limit exceeded ({limiter.limit}/min)", headers=_rate_headers(decision)
            )
    if request.method == "POST" and IDEMPOTENCY_HEADER in request.headers:
        response = await request.app[IDEMPOTENCY].handle(request, agent.agent_id, handler)
    else:
        response = await handler(request)
    if decision is not None:  # added as the answer is prepared (streams and sockets too): see stamp()
        request[RATE_HEADERS] = _rate_headers(decision)
    return response


async def _refuse(request: web.Request, route: Route, code: str, message: str) -> web.StreamResponse:
    """A refused credential: the error response, or, on a row that says so, a WebSocket closed with its code
    (1.0's events socket closes with 4001)."""
    if route.refusal_close and code == "unauthorized":
        ws = web.WebSocketResponse()
        if ws.can_prepare(request).ok:
            await ws.prepare(request)
            await ws.close(code=route.refusal_close, message=message.encode()[:120])
            return ws
    return error_response(code, message)


async def _identify_if_keyed(request: web.Request, route: Route) -> None:
    """A public route needs no key, but one that comes with a valid key knows who asks (e.g. a marketplace task's
    creator and worker see its delivered result). Like the original, a public route ignores a bad key: the
    request simply stays anonymous, and it is neither counted nor rate limited."""
    api_key = request.headers.get("X-API-Key") or request.query.get("api_key")
    if not api_key:
        return
    ctx: Ctx = request["ctx"]
    try:
        agent = await request.app[AUTH].authenticate(api_key, ctx)
    except ServiceError:
        return
    request["ctx"] = Ctx(request_id=ctx.request_id, agent_id=agent.agent_id, client_addr=ctx.client_addr)


async def _client_limited(request: web.Request, handler: Handler, route: Route) -> web.StreamResponse:
    """Per-client-address limit for unauthenticated routes that invite abuse (the contact form) or cost to
    answer (/metrics, /openapi.json); each route has its own budget."""
    per_minute = route.per_client_limit
    key = (
        "addr:" if route.path == "/v1/contact" else f"addr:{route.path}:"
    )  # the contact form's key as before
    try:
        decision = await request.app[LIMITER].check(key + str(request.remote), per_minute)
    except ServiceError as exc:
        return error_response(exc.code, exc.message)
    if not decision.allowed:
        return error_response(
            "rate_limited", f"Rate limit exceeded ({per_minute}/min)", headers=_rate_headers(decision)
        )
    return await handler(request)

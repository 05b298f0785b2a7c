"""The one generic forwarder: merge path, query and body into one request and send it to the route's subject."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
import orjson
from aiohttp import web
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from gateway.held import HELD, MAX_WAIT_S, cancel_current, long_poll, wait_of
from gateway.http import body_bytes, error_response, json_response, reply_response
from gateway.idempotency import LATE
from gateway.routes import Route
from gateway.state import NC
from shared import envelope
from shared.bus import Ctx, call, deadline_header, sign
from shared.envelope import Reply
from shared.errors import Timeout, Unavailable

KEY_HASH = "api_key_hash"  # request key: the hash of the key that authenticated it (set by the guard)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# JSON nesting a body may have. Deeper bodies parse (orjson goes to 1024) but cannot be re-serialised onto the
# bus (orjson stops at 255), stored as jsonb or checked for NUL (shared.models): refused as 422 up front.
MAX_JSON_DEPTH = 64
# How long past its 504 the gateway still waits for the reply of a request with an Idempotency-Key (an
# operation that started before its deadline runs to its end): that reply is the key's outcome.
LATE_GRACE_S = 30.0


def too_deep(raw: bytes | str, value: Any) -> bool:
    """Whether parsed JSON nests deeper than MAX_JSON_DEPTH; `raw` (its text) first rules out the common case
    cheaply — fewer brackets than the limit cannot nest that deep."""
    text = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if text.count(b"[") + text.count(b"{") <= MAX_JSON_DEPTH:
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _query(request: web.Request) -> dict[str, Any]:
    if not request.query_string:  # most requests: skip building the query MultiDict
        return {}
    out: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


async def read_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The JSON object body, or a 422 response in FastAPI's shape."""
    raw = await body_bytes(request)
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return error_response(
            "invalid",
            "invalid JSON",
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", exc.pos],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ],
        )
    if too_deep(raw, body):
        return error_response(
            "invalid",
            "JSON nested too deeply",
            [
                {
                    "type": "json_invalid",
                    "loc": ["body"],
                    "input": {},
                    "ctx": {"error": "nested too deeply"},
                    "msg": f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                }
            ],
        )
    if not isinstance(body, dict):
        return error_response(
            "invalid",
            "invalid body",
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": body,
                }
            ],
        )
    return body


def _etag(route: Route, data: Any) -> dict[str, str] | None:
    """The ETag header of a row that declares its answer's version field (the bare value, as 1.0 sends it:
    what If-Match takes back)."""
    if not route.etag or not isinstance(data, dict) or data.get(route.etag) is None:
        return None
    return {"ETag": str(data[route.etag])}


async def call_keeping_late(
    nc: NATS, subject: str, payload: Any, timeout: float, ctx: Ctx
) -> tuple[Reply, asyncio.Future[Reply | None] | None]:
    """`call`, but a request that times out keeps listening for its reply for LATE_GRACE_S more: the second
    item then resolves to that late reply (or to None when none came, or when the service dropped the
    request unstarted because its deadline had passed: nothing was done)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, max_msgs=1)
    headers = {**sign(subject, ctx.headers(), timeout), **deadline_header(timeout)}  # as `call` sends them
    try:
        await nc.publish(subject, envelope.dumps(payload), reply=inbox, headers=headers)
        msg = await sub.next_msg(timeout=timeout)
    except nats.errors.TimeoutError:
        late = asyncio.ensure_future(_late_reply(sub))
        return Reply(False, code=Timeout.code, message="Upstream service timed out"), late
    except nats.errors.Error:
        await _unsubscribe(sub)
        return Reply(False, code=Unavailable.code, message="Message bus unavailable"), None
    await _unsubscribe(sub)
    if (msg.headers or {}).get("Status") == "503" or not msg.data:  # no responders
        return Reply(False, code=Unavailable.code, message="Service unavailable"), None
    return envelope.decode(msg.data), None


async def _late_reply(sub: Subscription) -> Reply | None:
    try:
        msg = await sub.next_msg(timeout=LATE_GRACE_S)
    except nats.errors.Error:
        return None
    finally:
        await _unsubscribe(sub)
    if not msg.data:
        return None
    reply = envelope.decode(msg.data)
    if not reply.ok and isinstance(reply.details, dict) and reply.details.get("not_started"):
        return None
    return reply


async def _late_response(
    late: asyncio.Future[Reply | None], answer: Callable[[Reply], web.Response]
) -> web.Response | None:
    reply = await late
    return answer(reply) if reply is not None else None


async def _unsubscribe(sub: Subscription) -> None:
    with contextlib.suppress(Exception):
        await sub.unsubscribe()


def forwarder(route: Route, default_timeout: float) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    timeout = route.timeout or default_timeout
    default_source = "body" if route.method in BODY_METHODS else "query"

    async def handle(request: web.Request) -> web.StreamResponse:
        query = _query(request)
        body: dict[str, Any] = {}
        if route.method in BODY_METHODS and request.body_exists:
            parsed = await read_body(request)
            if isinstance(parsed, web.Response):
                return parsed
            body = parsed
        path = request.match_info
        # the headers the row declares, as request fields; an explicit field wins over a header
        headers = {field: request.headers[h] for h, field in route.headers if h in request.headers}
        payload = {**headers, **query, **body, **path}
        if route.caller_key_hash:
            payload["api_key_hash"] = request[KEY_HASH]
        ctx: Ctx = request["ctx"]
        nc = request.app[NC]

        def answer(reply: Reply) -> web.Response:
            if reply.ok:
                return json_response(reply.data, route.status, _etag(route, reply.data))
            # where each field came from, for validation errors' `loc` (only needed when the reply is an error)
            sources = {
                "*": default_source,
                **{k: "header" for k in headers},
                **{k: "query" for k in query},
                **{k: "body" for k in body},
                **{k: "path" for k in path},
            }
            return reply_response(reply, route.status, sources)

        wait = wait_of(payload.get("wait"), MAX_WAIT_S) if route.waits else None
        if wait:
            held = request.app[HELD]
            refused = held.refusal(ctx.require_agent(), ctx.client_addr)
            if refused is not None:
                return refused
            with held.hold(ctx.require_agent(), cancel_current(), ctx.client_addr):
                return answer(await long_poll(nc, route.subject, payload, wait, timeout=timeout, ctx=ctx))
        if LATE in request:  # an Idempotency-Key: a reply arriving after the 504 is still the outcome
            reply, late = await call_keeping_late(nc, route.subject, payload, timeout, ctx)
            if late is not None:
                request[LATE] = asyncio.ensure_future(_late_response(late, answer))
            return answer(reply)
        return answer(await call(nc, route.subject, payload, timeout=timeout, ctx=ctx))

    return handle

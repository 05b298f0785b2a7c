"""The one generic forwarder: merge path, query and body into one request and send it to the route's subject."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from gateway.http import body_bytes, error_response, json_response, reply_response
from gateway.routes import Route
from gateway.state import NC
from shared.bus import Ctx, call

KEY_HASH = "api_key_hash"  # request key: the hash of the key that authenticated it (set by the guard)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# JSON nesting a body may have. Deeper bodies parse (orjson goes to 1024) but cannot be re-serialised onto the
# bus (orjson stops at 255), stored as jsonb or checked for NUL (shared.models): refused as 422 up front.
MAX_JSON_DEPTH = 64


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
        reply = await call(request.app[NC], route.subject, payload, timeout=timeout, ctx=ctx)
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

    return handle

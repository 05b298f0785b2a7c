"""Envelope/ServiceError → HTTP response in the contract's shape ({"detail": …} plus 1.0's fields beside it).
Only the gateway knows HTTP: the services' error codes are mapped to statuses and public codes here."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import orjson
from aiohttp import web

from shared.envelope import Reply
from shared.timeutil import iso, utcnow

HTTP_STATUS: dict[str, int] = {
    "invalid": 422,
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "rate_limited": 429,
    "quota_exceeded": 429,
    "internal": 500,
    "unavailable": 503,
    "timeout": 504,
}
# The stable `error` code of HTTP error bodies (MoltGrid 1.0's names where 1.0 shows one), by internal code.
PUBLIC_CODES: dict[str, str] = {
    "internal": "internal_error",
    "invalid": "validation_error",
    "bad_request": "bad_request",
    "unauthorized": "unauthorized",
    "forbidden": "forbidden",
    "not_found": "not_found",
    "conflict": "conflict",
    "too_large": "payload_too_large",
    "rate_limited": "rate_limit_exceeded",
    "quota_exceeded": "quota_exceeded",
    "unavailable": "service_unavailable",
    "timeout": "gateway_timeout",
}
# HTTP statuses whose error bodies carry `retry_after_seconds` (null elsewhere, as in MoltGrid 1.0).
RETRY_STATUSES = frozenset({429, 503})
VALIDATION_MESSAGE = "Validation failed"
# Public error codes of failures aiohttp raises itself (no route, wrong method, ...), by status.
STATUS_CODES: dict[int, str] = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
# Seconds a client should wait after a 503 when nothing more precise is known (a service restarting).
UNAVAILABLE_RETRY_S = 1
# A request's body as the decode middleware read it (set only when it came encoded); see body_bytes().
BODY = "decoded_body"
# The current request's id, set by the request-id middleware; error bodies carry it.
REQUEST_ID: ContextVar[str | None] = ContextVar("moltgrid_request_id", default=None)


async def body_bytes(request: web.Request) -> bytes:
    """The request's body, decoded (the gateway reads bodies undecoded: gateway/middleware.py decode_body)."""
    decoded: bytes | None = request.get(BODY)
    return decoded if decoded is not None else await read_within(request)


BODY_TIMEOUT = web.AppKey("body_timeout_s", float)


async def read_within(request: web.Request) -> bytes:
    """The raw body, which must arrive within the gateway's body timeout (a body sent byte by byte holds no
    handler for long): else 408."""
    try:
        return await asyncio.wait_for(request.read(), request.app.get(BODY_TIMEOUT, 30.0))
    except TimeoutError:
        raise web.HTTPRequestTimeout(reason="Request body not received in time") from None


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _located(details: list[dict[str, Any]], sources: Mapping[str, str]) -> list[dict[str, Any]]:
    """Prefix each error's loc with where the field came from (path, query or body), as FastAPI does."""
    out = []
    for err in details:
        loc = list(err.get("loc") or [])
        if not loc or loc[0] not in ("body", "query", "path", "header"):
            where = sources.get(str(loc[0])) if loc else None
            loc = [where or sources.get("*", "body"), *loc]
        out.append({**err, "loc": loc})
    return out


def http_error_body(
    code: str, detail: Any, request_id: str | None, retry_after: float | None = None
) -> dict[str, Any]:
    """The one HTTP error body: the seed's `detail` (a message, or FastAPI's list for a 422) and, beside it,
    MoltGrid 1.0's `error` (a stable code), `message`, `request_id`, `retry_after_seconds` and `timestamp`, so
    clients of either version read what they expect. `code` is an internal code (shared.errors) or, for
    failures that have none (e.g. 405), already a public one."""
    public = PUBLIC_CODES.get(code, code)
    message = VALIDATION_MESSAGE if isinstance(detail, list) else str(detail)
    return {
        "detail": detail,
        "error": public,
        "message": message,
        "request_id": request_id,
        "retry_after_seconds": retry_after,
        "timestamp": iso(utcnow()),
    }


def error_body(
    code: str, status: int, detail: Any, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The shared error body for this request; on 429/503 `retry_after_seconds` is the Retry-After header's
    value (a 503 without one gets UNAVAILABLE_RETRY_S; a 429 without one is a quota that waiting does not
    restore, such as 1.0's subscription limit, and says null)."""
    retry_after: float | None = None
    if status in RETRY_STATUSES:
        given = (headers or {}).get("Retry-After")
        if given and given.isdigit():
            retry_after = int(given)
        elif status == 503:
            retry_after = UNAVAILABLE_RETRY_S
    return http_error_body(code, detail, REQUEST_ID.get(), retry_after)


def error_detail(
    code: str, message: str, details: Any = None, sources: Mapping[str, str] | None = None
) -> tuple[int, Any]:
    """An error's HTTP status and the `detail` of its body (validation errors located, else the message)."""
    if code == "invalid" and isinstance(details, list) and details:
        return HTTP_STATUS[code], _located(details, sources or {})
    return HTTP_STATUS.get(code, 500), message


def error_response(
    code: str,
    message: str,
    details: Any = None,
    sources: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    status, detail = error_detail(code, message, details, sources)
    if status == 503 and not (headers and "Retry-After" in headers):
        headers = {**(headers or {}), "Retry-After": str(UNAVAILABLE_RETRY_S)}
    return json_response(error_body(code, status, detail, headers), status, headers)


def status_error_response(status: int, reason: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """An error aiohttp raised itself (no such route, method not allowed, ...), in the same body."""
    code = STATUS_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    return json_response(error_body(code, status, reason, headers), status, headers)


def reply_response(reply: Reply, status: int, sources: Mapping[str, str]) -> web.Response:
    """A service's answer; a 429 whose details say when to retry (`retry_after_seconds`, e.g. a registration
    limit's window) sends it as Retry-After and in the body."""
    if reply.ok:
        return json_response(reply.data, status)
    headers = None
    wait = reply.details.get("retry_after_seconds") if isinstance(reply.details, dict) else None
    if HTTP_STATUS.get(reply.code) == 429 and isinstance(wait, int) and wait > 0:
        headers = {"Retry-After": str(wait)}
    return error_response(reply.code, reply.message, reply.details, sources, headers)

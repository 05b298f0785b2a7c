"""Envelope/ServiceError → HTTP response in the contract's shape ({"detail": …})."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from shared.envelope import Reply

HTTP_STATUS: dict[str, int] = {
    "invalid": 422, "bad_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404,
    "conflict": 409, "too_large": 413, "rate_limited": 429, "internal": 500, "unavailable": 503,
    "timeout": 504,
}


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json",
                        headers=headers)


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


def error_detail(code: str, message: str, details: Any = None,
                 sources: Mapping[str, str] | None = None) -> tuple[int, Any]:
    """An error's HTTP status and the `detail` of its body (validation errors located, else the message)."""
    if code == "invalid" and isinstance(details, list) and details:
        return HTTP_STATUS[code], _located(details, sources or {})
    return HTTP_STATUS.get(code, 500), message


def error_response(code: str, message: str, details: Any = None, sources: Mapping[str, str] | None = None,
                   headers: Mapping[str, str] | None = None) -> web.Response:
    status, detail = error_detail(code, message, details, sources)
    return json_response({"detail": detail}, status, headers)


def reply_response(reply: Reply, status: int, sources: Mapping[str, str]) -> web.Response:
    if reply.ok:
        return json_response(reply.data, status)
    return error_response(reply.code, reply.message, reply.details, sources)

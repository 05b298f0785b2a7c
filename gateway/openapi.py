"""GET /openapi.json (OpenAPI 3.1) built from the routing table and the request models the services
themselves validate with (each service's `describe` operation), and Swagger UI at /docs from packaged assets."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from gateway.routes import ADMIN, ADMIN_ROUTES, KEY, PUBLIC, ROUTES, Route
from gateway.state import NC
from shared.bus import call
from shared.config import API_VERSION, VERSION
from shared.subjects import svc

CACHE = web.AppKey("openapi_cache", dict)
CACHE_SECONDS = 60.0
BODY_METHODS = {"POST", "PUT", "PATCH"}
ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "AdminSession": {"type": "apiKey", "in": "cookie", "name": "admin_token"},
    },
    "schemas": {
        "ErrorResponse": {
            "type": "object",
            "required": ["detail"],
            "properties": {
                "detail": {"type": "string"},
                "error": {"type": "string", "description": "stable error code (1.0)"},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
                "retry_after_seconds": {"type": ["integer", "null"], "description": "set on 429 and 503"},
            },
        },
        "ValidationError": {
            "type": "object",
            "required": ["type", "loc", "msg"],
            "properties": {
                "type": {"type": "string"},
                "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                "msg": {"type": "string"},
                "input": {},
                "ctx": {"type": "object"},
            },
        },
        "HTTPValidationError": {
            "type": "object",
            "properties": {
                "detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                "error": {"type": "string", "enum": ["validation_error"]},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
                "retry_after_seconds": {"type": "null"},
            },
        },
    },
}
STATIC_PATHS: dict[str, Any] = {
    "/": {
        "get": {
            "tags": ["system"],
            "summary": "API root: lists the endpoints",
            "operationId": "root",
            "responses": {"200": {"description": "Endpoint list"}},
        }
    },
    "/v1/health": {
        "get": {
            "tags": ["system"],
            "summary": "Health, version and every service's reachability",
            "operationId": "health",
            "responses": {"200": {"description": "Health report"}},
        }
    },
    "/metrics": {
        "get": {
            "tags": ["system"],
            "summary": "Prometheus metrics",
            "operationId": "metrics",
            "responses": {"200": {"description": "Prometheus text format"}},
        }
    },
}


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(route: Route, schema: dict[str, Any] | None, components: dict[str, Any]) -> dict[str, Any]:
    service, op = route.subject.split(".")[1:3]
    path_params = re.findall(r"{(\w+)}", route.path)
    schema = dict(schema or {})
    components.update(schema.pop("$defs", {}))
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    params = [
        {"name": p, "in": "path", "required": True, "schema": props.get(p, {"type": "string"})}
        for p in path_params
    ]
    # the caller's key hash is the gateway's to add (Route.caller_key_hash), not a client's field
    hidden = {*path_params, *(("api_key_hash",) if route.caller_key_hash else ())}
    rest = {k: v for k, v in props.items() if k not in hidden}
    in_query = (
        rest if route.method not in BODY_METHODS else {k: v for k, v in rest.items() if k in route.query}
    )
    params += [
        {"name": k, "in": "query", "required": k in required, "schema": v} for k, v in in_query.items()
    ]
    body = {k: v for k, v in rest.items() if k not in in_query}
    operation: dict[str, Any] = {
        "tags": [service],
        "operationId": f"{service}_{op}_{route.method.lower()}",
        "summary": route.summary or op.replace("_", " ").capitalize(),
        "parameters": params,
        "responses": {
            str(route.status): _response("Successful response", {}),
            "400": _response("Business rule violated", ERROR),
            "404": _response("Not found", ERROR),
            "422": _response("Validation error", {"$ref": "#/components/schemas/HTTPValidationError"}),
            "503": _response("Service unavailable", ERROR),
            "504": _response("Service timed out", ERROR),
        },
    }
    if schema.get("description"):  # the request model's docstring, when it explains something
        operation["description"] = schema["description"]
    if body:
        body_schema = {"type": "object", "properties": body, "required": sorted(required & set(body))}
        operation["requestBody"] = {
            "required": bool(required & set(body)),
            "content": {"application/json": {"schema": body_schema}},
        }
    if route.access is not PUBLIC:
        operation["security"] = [{"AdminSession": []}] if route.access is ADMIN else [{"ApiKeyAuth": []}]
        operation["responses"]["401"] = _response("Missing or invalid credentials", ERROR)
    if route.access is KEY:
        operation["responses"]["429"] = _response("Rate limit exceeded", ERROR)
    return operation


def build(described: dict[str, dict[str, Any]]) -> dict[str, Any]:
    components = {k: dict(v) for k, v in COMPONENTS.items()}
    paths: dict[str, Any] = {k: dict(v) for k, v in STATIC_PATHS.items()}
    seen: set[str] = set()
    for route in (*ROUTES, *ADMIN_ROUTES):
        service, op = route.subject.split(".")[1:3]
        operation = _operation(route, described.get(service, {}).get(op), components["schemas"])
        while operation["operationId"] in seen:  # one operation behind two paths (an alias)
            operation["operationId"] += "_alias"
        seen.add(operation["operationId"])
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MoltGrid",
            "version": API_VERSION,
            "description": f"Infrastructure for autonomous agents (server {VERSION}).",
        },
        "paths": paths,
        "components": components,
    }


async def document(app: web.Application) -> tuple[dict[str, Any], bool]:
    """The document (cached: a minute, or 2 s while a service did not describe itself) and whether every
    service described itself. The MCP server derives its tools' input schemas from it too. Built once per
    expiry: requests arriving while it is rebuilt share that one build (no herd of rebuilds)."""
    cache = app[CACHE]
    if cache.get("until", 0.0) < time.monotonic():
        running = cache.get("running")
        if running is None or running.done():
            running = cache["running"] = asyncio.ensure_future(_rebuild(app))
        await asyncio.shield(running)
    return cache["doc"], cache["complete"]


async def _rebuild(app: web.Application) -> None:
    cache = app[CACHE]
    services = sorted({r.subject.split(".")[1] for r in (*ROUTES, *ADMIN_ROUTES)})
    replies = await asyncio.gather(*(call(app[NC], svc(s, "describe"), {}, timeout=2.0) for s in services))
    described = {s: r.data for s, r in zip(services, replies, strict=False) if r.ok}
    complete = len(described) == len(services)
    doc = build(described)
    cache.update(
        doc=doc,
        body=orjson.dumps(doc),  # serialised once, not per request
        complete=complete,
        until=time.monotonic() + (CACHE_SECONDS if complete else 2.0),
    )


async def openapi_json(request: web.Request) -> web.Response:
    await document(request.app)
    return web.Response(body=request.app[CACHE]["body"], content_type="application/json")


def swagger_static() -> Path:
    import swagger_ui

    return Path(swagger_ui.__file__).parent / "static"


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MoltGrid API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});</script>
</body></html>"""


async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_HTML, content_type="text/html")


def setup(app: web.Application) -> None:
    app[CACHE] = {}

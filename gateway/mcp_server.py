"""The MCP server (official `mcp` SDK, low-level `Server`) built from the tool table; transport-agnostic.

A tool call is one request to the tool's route through a `Backend`: over the gateway's /mcp endpoint that is the
route's NATS subject, after the gateway's own auth and rate limit (gateway/mcp_http.py); for `moltgrid mcp`
(stdio) it is the REST API over HTTP (gateway/mcp_stdio.py). The server adds no business logic: it turns the
API's answer into a tool result, and the API's error (its status and `detail`) into a tool error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

import mcp_types as types
import orjson
import structlog
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from gateway.mcp_schemas import Schemas
from gateway.mcp_tools import MEMORY_VALUE_TEMPLATE, RESOURCES, TOOLS, Tool
from gateway.routes import ROUTES, Route
from shared.config import VERSION

log = structlog.get_logger("mcp")
INSTRUCTIONS = (
    "MoltGrid: persistent memory, a job queue, messaging, schedules, a directory and a marketplace "
    "for autonomous agents. Every tool acts as the agent whose API key authenticated this session."
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The API's answer to one request: data on success, else the HTTP status and the body's `detail`."""

    ok: bool
    data: Any = None
    status: int = 200
    detail: Any = None


class Backend(Protocol):
    async def call(self, route: Route, args: dict[str, Any]) -> Outcome:
        """Send `args` (the route's merged request object) to `route` as the authenticated agent."""
        ...


BackendOf = Callable[[ServerRequestContext[Any, Any]], Backend]


def error_text(outcome: Outcome) -> str:
    """The tool error's text: the status and the API's own `detail` (a message, or validation errors)."""
    detail = outcome.detail if isinstance(outcome.detail, str) else orjson.dumps(outcome.detail).decode()
    return f"HTTP {outcome.status}: {detail}"


def tool_result(outcome: Outcome) -> types.CallToolResult:
    if not outcome.ok:
        return types.CallToolResult(content=[types.TextContent(text=error_text(outcome))], is_error=True)
    text = orjson.dumps(outcome.data).decode()
    structured = outcome.data if isinstance(outcome.data, dict) else None
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=structured)


async def _listing(tools: dict[str, Tool], schemas: Schemas) -> list[types.Tool]:
    """The tools, each with the input schema its route's described request model gives."""
    return [
        types.Tool(
            name=t.name,
            description=t.spec.description,
            input_schema=await schemas.of(t.spec.method, t.spec.path),
            annotations=types.ToolAnnotations(
                read_only_hint=t.route.method == "GET", destructive_hint=t.route.method == "DELETE"
            ),
        )
        for t in tools.values()
    ]


def _get_route(path: str) -> Route:
    return next(r for r in ROUTES if r.method == "GET" and r.path == path)


def build_server(backend_of: BackendOf, schemas: Schemas) -> Server[Any]:
    """The MCP server; `backend_of` gives the backend (the authenticated agent's channel) for a request,
    `schemas` the tools' input schemas (derived from the services' described models, cached)."""
    tools = TOOLS
    resource_routes = {spec.uri: _get_route(spec.path) for spec in RESOURCES}
    value_route = _get_route(MEMORY_VALUE_TEMPLATE.path)
    value_prefix = MEMORY_VALUE_TEMPLATE.uri.removesuffix("{key}")

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=await _listing(tools, schemas))

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = tools.get(params.name)
        if tool is None:
            return tool_result(Outcome(False, status=404, detail=f"Unknown tool {params.name!r}"))
        args = dict(params.arguments or {})
        try:
            outcome = await backend_of(ctx).call(tool.route, args)
        except Exception as exc:  # a transport failure must come back as a tool error, never end the session
            log.warning("mcp_tool_failed", tool=params.name, error=repr(exc))
            outcome = Outcome(False, status=502, detail=f"MoltGrid API unreachable: {exc}")
        return tool_result(outcome)

    async def list_resources(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=r.uri, name=r.name, description=r.description, mime_type="application/json"
                )
                for r in RESOURCES
            ]
        )

    async def list_templates(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        t = MEMORY_VALUE_TEMPLATE
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=t.uri, name=t.name, description=t.description, mime_type="application/json"
                )
            ]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri in resource_routes:
            route, args = resource_routes[uri], {}
        elif uri.startswith(value_prefix) and len(uri) > len(value_prefix):
            route, args = value_route, {"key": unquote(uri[len(value_prefix) :])}
        else:
            raise MCPError(types.INVALID_PARAMS, f"Unknown resource {uri}")
        outcome = await backend_of(ctx).call(route, args)
        if not outcome.ok:  # a JSON-RPC error carrying the API's message
            raise MCPError(
                types.INVALID_PARAMS if outcome.status < 500 else types.INTERNAL_ERROR, error_text(outcome)
            )
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=uri, mime_type="application/json", text=orjson.dumps(outcome.data).decode()
                )
            ]
        )

    return Server(
        "moltgrid",
        version=VERSION,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )

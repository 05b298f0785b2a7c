"""`moltgrid mcp`: the same MCP server over stdio, for clients that launch their servers as subprocesses.

Each tool call is one request to the MoltGrid REST API (base URL and API key from the environment), so it
is authenticated, rate-limited and routed exactly like any other client's request.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from gateway.forward import BODY_METHODS
from gateway.mcp_schemas import Schemas
from gateway.mcp_server import Outcome, build_server
from gateway.routes import Route

PATH_PARAM = re.compile(r"\{(\w+)\}")
DEFAULT_URL = "http://127.0.0.1:8000"


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


class HttpBackend:
    """Calls a route over HTTP: path parameters in the URL, the rest as JSON body or query string."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, api_key: str) -> None:
        self._http, self._base, self._headers = http, base_url.rstrip("/"), {"X-API-Key": api_key}

    async def call(self, route: Route, args: dict[str, Any]) -> Outcome:
        rest = dict(args)
        missing = [name for name in PATH_PARAM.findall(route.path) if name not in rest]
        if missing:
            return Outcome(
                False,
                status=422,
                detail=[
                    {"type": "missing", "loc": ["path", name], "msg": "Field required"} for name in missing
                ],
            )
        path = PATH_PARAM.sub(lambda m: quote(str(rest.pop(m.group(1))), safe=""), route.path)
        kwargs: dict[str, Any] = {}
        if route.method in BODY_METHODS:
            kwargs["data"] = orjson.dumps(rest)
            kwargs["headers"] = {**self._headers, "Content-Type": "application/json"}
        else:
            kwargs["params"] = [(k, _query_value(v)) for k, v in rest.items() if v is not None]
            kwargs["headers"] = self._headers
        async with self._http.request(route.method, self._base + path, **kwargs) as response:
            raw = await response.read()
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = raw.decode(errors="replace")
            if response.status < 400:
                return Outcome(True, body, response.status)
            detail = body.get("detail", body) if isinstance(body, dict) else body
            return Outcome(False, status=response.status, detail=detail)


async def serve(base_url: str, api_key: str) -> None:
    """Serve MCP on stdin/stdout until the client closes the stream."""
    from mcp.server.stdio import stdio_server

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=330)) as http:
        backend = HttpBackend(http, base_url, api_key)

        async def described() -> tuple[dict[str, Any], bool]:
            async with http.get(base_url.rstrip("/") + "/openapi.json") as response:
                response.raise_for_status()
                doc: dict[str, Any] = await response.json()
            return doc, True

        server = build_server(lambda ctx: backend, Schemas(described))
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def main(argv: list[str]) -> None:
    """`python -m gateway.mcp_stdio [--url URL]` (what `moltgrid mcp` runs); the key is MOLTGRID_API_KEY."""
    from shared.config import Settings
    from shared.logging import configure_logging  # logs to stderr: stdout carries the protocol

    url = argv[argv.index("--url") + 1] if "--url" in argv else os.environ.get("MOLTGRID_URL", DEFAULT_URL)
    api_key = os.environ.get("MOLTGRID_API_KEY", "")
    if not api_key:
        sys.exit("set MOLTGRID_API_KEY to the agent's API key")
    configure_logging(Settings(), "mcp")
    asyncio.run(serve(url, api_key))


if __name__ == "__main__":
    main(sys.argv[1:])

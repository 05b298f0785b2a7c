"""MCP tool input schemas, derived from the request models the services publish (each service's `describe`
operation, as the gateway's OpenAPI document renders them): a tool's schema is its route's whole request
object — path and query parameters and body fields together — so it cannot drift from what the service
validates. Both transports read the same document: the gateway's /mcp builds it from `describe` over NATS,
`moltgrid mcp` fetches GET /openapi.json; each keeps it for a minute (a few seconds while a service is away).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

JsonSchema = dict[str, Any]
Document = dict[str, Any]
COMPONENT_REF = "#/components/schemas/"
CACHE_SECONDS = 60.0
RETRY_SECONDS = 2.0
UNKNOWN: JsonSchema = {"type": "object"}  # the service did not describe the operation (yet)


def _refs(value: Any, found: set[str]) -> Any:
    """`value` with component references pointing at `$defs`, collecting the names referenced."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(COMPONENT_REF):
                found.add(v[len(COMPONENT_REF) :])
                out[k] = "#/$defs/" + v[len(COMPONENT_REF) :]
            else:
                out[k] = _refs(v, found)
        return out
    if isinstance(value, list):
        return [_refs(v, found) for v in value]
    return value


def input_schema(doc: Document, method: str, path: str) -> JsonSchema | None:
    """The route's request object as one JSON Schema, or None when the document does not describe it."""
    operation = doc.get("paths", {}).get(path, {}).get(method.lower())
    if not operation:
        return None
    properties: dict[str, Any] = {}
    required: set[str] = set()
    for param in operation.get("parameters", []):
        properties[param["name"]] = param.get("schema", {})
        if param.get("required"):
            required.add(param["name"])
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    properties.update(body.get("properties", {}))
    required.update(body.get("required", []))
    found: set[str] = set()
    schema: JsonSchema = {
        "type": "object",
        "properties": _refs(properties, found),
        "additionalProperties": False,  # a misspelt argument is an error, not silently dropped
    }
    if required:
        schema["required"] = sorted(required)
    components = doc.get("components", {}).get("schemas", {})
    defs: dict[str, Any] = {}
    while found - set(defs):  # referenced models, and the models they reference
        name = sorted(found - set(defs))[0]
        defs[name] = _refs(components.get(name, {}), found)
    if defs:
        schema["$defs"] = defs
    return schema


class Schemas:
    """The described document, fetched on first use and kept for CACHE_SECONDS (RETRY_SECONDS when it was
    incomplete or could not be fetched)."""

    def __init__(self, fetch: Callable[[], Awaitable[tuple[Document, bool]]]) -> None:
        self._fetch = fetch  # → (document, complete)
        self._doc: Document = {}
        self._until = 0.0

    async def document(self) -> Document:
        if self._until < time.monotonic():
            try:
                doc, complete = await self._fetch()
            except Exception:  # the API is away: keep what we had, ask again soon
                doc, complete = self._doc, False
            self._doc = doc
            self._until = time.monotonic() + (CACHE_SECONDS if complete else RETRY_SECONDS)
        return self._doc

    async def of(self, method: str, path: str) -> JsonSchema:
        return input_schema(await self.document(), method, path) or UNKNOWN

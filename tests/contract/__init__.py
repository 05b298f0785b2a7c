"""The original MoltGrid's recorded contract (v0.5), copied unchanged from the development workspace's
`shared/contract/` (openapi.json, examples.md, behaviour.md) so the tests can hold the server to it."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKSPACE_COPY = (
    HERE.parents[2] / "shared" / "contract"
)  # ../shared/contract beside the checkout, as CI lays it
ADMIN_COOKIE = "admin_token"


@cache
def openapi() -> dict[str, Any]:
    return json.loads((HERE / "openapi.json").read_text())


@cache
def examples() -> str:
    return (HERE / "examples.md").read_text()


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """Every (METHOD, path, operation) of the original's OpenAPI document."""
    return [
        (method.upper(), path, op) for path, ops in openapi()["paths"].items() for method, op in ops.items()
    ]


def _answered_without_a_key() -> set[tuple[str, str]]:
    """(METHOD, path) of every recorded exchange sent without X-API-Key that succeeded (2xx)."""
    found = set()
    for method, path, note, status in re.findall(
        r"^`(\w+) ([^`\s]+)`( \([^)]*\))?\n.*?^Status \*\*(\d+)\*\*", examples(), re.S | re.M
    ):
        if "X-API-Key" not in note and status.startswith("2"):
            found.add((method, path.split("?")[0]))
    return found


def access(method: str, path: str, op: dict[str, Any]) -> str:
    """How the original guards one operation: "admin" (the admin session cookie), "public" or "key".

    The original's OpenAPI document declares no `security` requirements (its key check is a plain header
    read), so access is read from what the document and the recordings do say: an operation taking the
    `admin_token` cookie is admin; pages and the admin login outside `/v1/` are public (the seed README: the key
    is "built into all /v1/ endpoints"); a `/v1/` operation described "No auth required", or recorded answering
    2xx to a request without `X-API-Key`, is public; every other one needs a key."""
    if op.get("security"):
        return "admin" if any("admin" in name.lower() for req in op["security"] for name in req) else "key"
    if any(p.get("in") == "cookie" and p.get("name") == ADMIN_COOKIE for p in op.get("parameters", [])):
        return "admin"
    if not path.startswith("/v1/"):
        return "public"
    if "no auth required" in op.get("description", "").lower() or (method, path) in _answered_without_a_key():
        return "public"
    return "key"

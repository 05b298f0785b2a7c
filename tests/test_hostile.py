"""Hostile input through the real gateway: every case answers its exact 4xx in the contract's error shape
(`{"detail": "..."}`, or FastAPI's list for 422), leaves no half-written record behind, and no agent ever
reaches another agent's data.

Covered: bodies over each limit (memory value, job and message payloads, the gateway's body limit), JSON
nested 10,000 deep and nested past the serialiser's depth, invalid UTF-8, NUL bytes, CR/LF and raw bytes in
header values (Idempotency-Key, X-API-Key, X-Request-ID), path traversal in memory keys, namespaces and
shared-memory namespaces, SQL metacharacters (prefix filters are literal, not LIKE patterns), wrong content
types, numbers out of range, and the cross-agent matrix: every route of gateway/routes.py that takes an id
in its path has a case below (a new id-bearing route without one fails test_cross_agent_matrix_covers...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import pytest
from aiohttp import web

from gateway.forward import MAX_JSON_DEPTH
from gateway.routes import ADMIN_ROUTES, ROUTES
from shared.runtime.embedded import free_port
from tests.conftest import Api
from tests.helpers import seed_view, until

UNREACHABLE_WEBHOOK = "http://127.0.0.1:9/hook"  # loopback discard port: deliveries fail, records remain


def assert_detail(body: Any, text: str | None = None, status: int = 400) -> None:
    """The contract's plain error shape: exactly {"detail": "<message>"} (beside 1.0's fields, checked by
    seed_view when the body is still whole: a raw socket read; Api has already checked and stripped them)."""
    if isinstance(body, dict) and set(body) != {"detail"}:
        body = seed_view(status, body, None)
    assert isinstance(body, dict) and set(body) == {"detail"} and isinstance(body["detail"], str), body
    assert body["detail"], body
    if text is not None:
        assert text in body["detail"], body


def assert_invalid(body: Any, loc: list[Any] | None = None, type_: str | None = None) -> None:
    """FastAPI's 422 shape: {"detail": [{"type", "loc", "msg", "input", ...}]}, optionally naming one error."""
    if isinstance(body, dict) and set(body) != {"detail"}:
        body = seed_view(422, body, None)
    assert isinstance(body, dict) and set(body) == {"detail"} and isinstance(body["detail"], list), body
    assert body["detail"], body
    for err in body["detail"]:
        assert {"type", "loc", "msg"} <= set(err), err
        assert isinstance(err["loc"], list) and err["loc"][0] in ("body", "query", "path", "header"), err
    if loc is not None:
        assert any(e["loc"] == loc and (type_ is None or e["type"] == type_) for e in body["detail"]), body


async def raw(
    api: Api, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """Send exact bytes as the body (no client-side JSON encoding)."""
    status, parsed, _ = await api.request(method, path, data=body, headers=headers)
    return status, parsed


async def raw_http(base: str, request: bytes) -> tuple[int, bytes]:
    """Write one raw HTTP/1.1 request on a socket (for header bytes no HTTP client would send)."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), 10)
        while b"\r\n\r\n" not in data:
            more = await asyncio.wait_for(reader.read(65536), 10)
            if not more:
                break
            data += more
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")[1:]
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        while length is not None and len(rest) < length:
            more = await asyncio.wait_for(reader.read(65536), 10)
            if not more:
                break
            rest += more
        return int(head.split(b" ", 2)[1]), rest
    finally:
        writer.close()


async def raw_head(base: str, request: bytes) -> bytes:
    """The status line and headers a raw request is answered with."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()


def request_bytes(method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1".encode(),
        b"Host: 127.0.0.1",
        b"Connection: close",
        *(k + b": " + v for k, v in headers),
        b"Content-Length: " + str(len(body)).encode(),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


OWNED = {
    "memory": "SELECT count(*) FROM memory.entries WHERE agent_id = $1",
    "shared": "SELECT count(*) FROM memory.shared_entries WHERE owner_agent = $1",
    "jobs": "SELECT count(*) FROM queue.jobs WHERE agent_id = $1",
    "scenarios": "SELECT count(*) FROM coordination.scenarios WHERE creator_agent = $1",
    "tasks": "SELECT count(*) FROM marketplace.tasks WHERE creator_agent = $1",
}


async def stored(db: Any, api: Api, what: str) -> int:
    """Rows of one kind the agent has in Postgres (read directly: a half-written record cannot hide)."""
    return await db.fetchval(OWNED[what], api.agent_id)


async def messages_of(api: Api) -> int:
    """Messages the agent sent or received, from the relay's own count (GET /v1/stats)."""
    status, body = await api.get("/v1/stats")
    assert status == 200, body
    return body["messages_sent"] + body["messages_received"]


async def memory_count(api: Api, namespace: str = "default") -> int:
    status, body = await api.get("/v1/memory", params={"namespace": namespace})
    assert status == 200, body
    return body["count"]


# ── sizes ────────────────────────────────────────────────────────────────────────────────────────────────


async def test_body_over_the_gateway_limit_is_413_and_stores_nothing(alice, db):
    big = orjson.dumps({"key": "huge", "value": "x" * 1_100_000})  # over MOLTGRID_MAX_BODY_BYTES (1 MiB)
    status, body = await raw(alice, "POST", "/v1/memory", big, {"Content-Type": "application/json"})
    assert status == 413
    assert_detail(body, "Request body too large")

    async def chunks():  # no Content-Length: the limit must hold for a streamed body too
        for _ in range(12):
            yield b"x" * 100_000

    status, body = await raw(alice, "POST", "/v1/memory", chunks(), {"Content-Type": "application/json"})  # type: ignore[arg-type]
    assert status == 413
    assert_detail(body, "Request body too large")
    # with an Idempotency-Key: refused before the key is claimed, so the key stays free for a proper retry
    status, body = await raw(
        alice, "POST", "/v1/memory", big, {"Content-Type": "application/json", "Idempotency-Key": "big-1"}
    )
    assert status == 413
    assert_detail(body, "Request body too large")
    assert await stored(db, alice, "memory") == 0
    status, body, headers = await alice.request(
        "POST", "/v1/memory", json={"key": "small", "value": "v"}, headers={"Idempotency-Key": "big-1"}
    )
    assert status == 200 and "Idempotent-Replayed" not in headers


async def test_memory_value_over_50000_characters_is_422(alice, db):
    status, body = await alice.post("/v1/memory", {"key": "big", "value": "é" * 50_001})
    assert status == 422
    assert_invalid(body, ["body", "value"], "string_too_long")
    assert await alice.get("/v1/memory/big") == (404, {"detail": "Key not found or expired"})
    assert await stored(db, alice, "memory") == 0
    assert (await alice.post("/v1/memory", {"key": "big", "value": "é" * 50_000}))[
        0
    ] == 200  # the limit itself


async def test_job_payload_over_100000_is_422_and_no_job_exists(alice, db):
    status, body = await alice.post("/v1/queue/submit", {"payload": "x" * 100_001})
    assert status == 422
    assert_invalid(body, ["body", "payload"], "string_too_long")
    status, body = await alice.post("/v1/queue/submit", {"payload": {"blob": "x" * 100_000}})
    assert status == 422
    assert_invalid(body, ["body", "payload"], "string_too_long")
    assert await stored(db, alice, "jobs") == 0


async def test_message_payload_over_10000_is_422_and_nothing_is_delivered(alice, bob):
    status, body = await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "payload": "x" * 10_001})
    assert status == 422
    assert_invalid(body, ["body", "payload"], "string_too_long")
    status, inbox = await bob.get("/v1/relay/inbox", params={"unread_only": "false", "channel": "*"})
    assert status == 200 and inbox["count"] == 0
    assert await messages_of(alice) == 0


# ── malformed JSON and bytes ─────────────────────────────────────────────────────────────────────────────


async def test_json_nested_10000_deep_is_422(alice, db):
    deep = b'{"key": "deep", "value": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    status, body = await raw(alice, "POST", "/v1/memory", deep, {"Content-Type": "application/json"})
    assert status == 422
    assert_invalid(body)
    assert body["detail"][0]["type"] == "json_invalid" and body["detail"][0]["loc"][0] == "body"
    assert await stored(db, alice, "memory") == 0


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, 300, 1000])
async def test_json_nested_deep_but_parseable(alice, db, depth):
    """Bodies the parser takes (orjson goes to 1024 levels) but no service could re-serialise (255) or store:
    up to MAX_JSON_DEPTH levels in all they round-trip exactly, deeper ones are a 422 — never a 500."""
    payload: Any = "x"
    for _ in range(depth):
        payload = {"a": payload}
    data = b'{"queue_name": "deep", "payload": ' + b'{"a": ' * depth + b'"x"' + b"}" * depth + b"}"
    status, body = await raw(alice, "POST", "/v1/queue/submit", data, {"Content-Type": "application/json"})
    if depth + 1 <= MAX_JSON_DEPTH:  # the body's own object is one level
        assert status == 200, body
        status, job = await alice.post("/v1/queue/claim", params={"queue_name": "deep"})
        assert status == 200 and job["payload"] == payload
        return
    assert status == 422, body
    assert_invalid(body, ["body"], "json_invalid")
    assert await stored(db, alice, "jobs") == 0


@pytest.mark.parametrize("depth", [60, 80])
async def test_nul_hidden_deep_inside_a_payload_is_422(alice, bob, db, depth):
    """Postgres text and jsonb cannot hold \u0000 at any depth: refused up front, not a database error."""
    nested: Any = "a\x00b"
    for _ in range(depth):
        nested = [nested]
    status, body = await alice.post("/v1/queue/submit", {"payload": nested})
    assert status == 422
    assert_invalid(body)
    status, body = await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "payload": {"deep": nested}})
    assert status == 422
    assert_invalid(body)
    status, body = await alice.post(
        "/v1/testing/scenarios",
        {"pattern": "leader_election", "agent_count": 2, "success_criteria": {"x": nested}},
    )
    assert status == 422
    assert_invalid(body)
    assert [await stored(db, alice, what) for what in ("jobs", "scenarios")] == [0, 0]
    assert await messages_of(alice) == 0


async def test_invalid_utf8_in_body_is_422(alice, db):
    status, body = await raw(
        alice,
        "POST",
        "/v1/memory",
        b'{"key": "k", "value": "\xff\xfe\xc3("}',
        {"Content-Type": "application/json"},
    )
    assert status == 422
    assert_invalid(body)
    assert body["detail"][0]["type"] == "json_invalid"
    status, body = await raw(
        alice,
        "POST",
        "/v1/memory",
        b'{"key": "\xed\xa0\x80", "value": "lone surrogate"}',
        {"Content-Type": "application/json"},
    )
    assert status == 422
    assert_invalid(body)
    assert await stored(db, alice, "memory") == 0


async def test_nul_bytes_are_422_wherever_they_appear(alice, db):
    status, body = await alice.post("/v1/memory", {"key": "k", "value": "a\x00b"})
    assert status == 422
    assert_invalid(body, ["body", "value"])
    status, body = await alice.post("/v1/memory", {"key": "k\x00", "value": "v"})
    assert status == 422
    assert_invalid(body, ["body", "key"])
    status, body = await raw(
        alice, "POST", "/v1/memory", b'{"key": "k", "value": "a\x00b"}', {"Content-Type": "application/json"}
    )  # a raw control byte: not even JSON
    assert status == 422
    assert_invalid(body)
    status, body = await alice.get("/v1/memory/a%00b")
    assert status == 422
    assert_invalid(body, ["path", "key"])
    status, body = await alice.get("/v1/memory", params={"prefix": "\x00"})
    assert status == 422
    assert_invalid(body, ["query", "prefix"])
    assert await stored(db, alice, "memory") == 0


# ── headers ──────────────────────────────────────────────────────────────────────────────────────────────


async def test_cr_lf_and_raw_bytes_in_header_values(alice, stack, db):
    body = b'{"key": "hdr", "value": "v"}'
    key = alice.key.encode()
    # A bare CR (or a NUL) inside a header value is malformed HTTP: aiohttp's parser answers 400 (in plain
    # text: no application code, hence no JSON error body, runs for a request that is not HTTP) and closes.
    for name in (b"Idempotency-Key", b"X-Request-ID"):
        for bad in (b"abc\rX-Injected: 1", b"abc\x00def"):
            status, _ = await raw_http(
                stack.base_url, request_bytes("POST", "/v1/memory", [(b"X-API-Key", key), (name, bad)], body)
            )
            assert status == 400
    assert await stored(db, alice, "memory") == 0
    # CRLF inside a value just ends the header: the "injected" line is one more request header, the request
    # is judged on its own merits, and nothing of it is reflected back into the response's headers.
    request = request_bytes(
        "POST", "/v1/memory", [(b"X-API-Key", key), (b"X-Request-ID", b"rid\r\nSet-Cookie: pwned=1")], body
    )
    status, reply = await raw_http(stack.base_url, request)
    assert status == 200 and orjson.loads(reply)["key"] == "hdr"
    head = await raw_head(stack.base_url, request)
    assert b"pwned" not in head and b"\r\nX-Request-ID: rid\r\n" in head
    # Bytes that are not UTF-8 (or are control characters) in the Idempotency-Key, the API key and the
    # request id: refused or replaced, never a crash.
    for bad in (b"\xff\xfe\x80", b"tab\there"):
        status, reply = await raw_http(
            stack.base_url,
            request_bytes("POST", "/v1/memory", [(b"X-API-Key", key), (b"Idempotency-Key", bad)], body),
        )
        assert status == 400, reply
        assert_detail(orjson.loads(reply), "Idempotency-Key must be 1-255 printable characters")
    status, reply = await raw_http(
        stack.base_url,
        request_bytes(
            "POST", "/v1/memory", [(b"X-API-Key", key), (b"Idempotency-Key", "ключ-1".encode())], body
        ),
    )
    assert status == 200, reply  # UTF-8 text is a fine key
    status, reply = await raw_http(
        stack.base_url, request_bytes("GET", "/v1/memory", [(b"X-API-Key", b"af_\xff\xfe")])
    )
    assert status == 401
    assert_detail(orjson.loads(reply), "Invalid API key")
    status, reply = await raw_http(
        stack.base_url,
        request_bytes("GET", "/v1/memory", [(b"X-API-Key", key), (b"X-Request-ID", b"\xff\xfe")]),
    )
    assert status == 200
    status, _, headers = await alice.request("GET", "/v1/memory", headers={"X-Request-ID": "a b<script>"})
    assert status == 200 and headers["X-Request-ID"] != "a b<script>"


async def test_idempotency_key_limits(alice):
    status, body, _ = await alice.request(
        "POST", "/v1/memory", json={"key": "idem", "value": "v"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert status == 400
    assert_detail(body, "Idempotency-Key must be 1-255 printable characters")
    status, body, _ = await alice.request(
        "POST",
        "/v1/memory",
        json={"key": "idem", "value": "v"},
        headers={"Idempotency-Key": "'; DROP TABLE gateway.idempotency_keys--"},
    )
    assert status == 200
    status, body, headers = await alice.request(
        "POST",
        "/v1/memory",
        json={"key": "idem", "value": "v"},
        headers={"Idempotency-Key": "'; DROP TABLE gateway.idempotency_keys--"},
    )
    assert status == 200 and headers.get("Idempotent-Replayed") == "true"
    assert await memory_count(alice) == 1


# ── path traversal ───────────────────────────────────────────────────────────────────────────────────────

TRAVERSAL_KEYS = ["../secret", "../../etc/passwd", "..", ".", "a/../../b", "..\\..\\win", "%2e%2e%2fsecret"]


async def raw_json(stack: Any, api: Api, method: str, path: str) -> tuple[int, Any]:
    """A request whose path goes out byte for byte (HTTP clients resolve dot segments before sending)."""
    status, body = await raw_http(
        stack.base_url, request_bytes(method, path, [(b"X-API-Key", api.key.encode())])
    )
    return status, orjson.loads(body)


@pytest.mark.parametrize("key", TRAVERSAL_KEYS)
async def test_traversal_in_memory_keys_is_a_literal_key(alice, bob, stack, key):
    """A key is a name, never a path: it round-trips exactly, inside the caller's own scope only."""
    await bob.post("/v1/memory", {"key": "secret", "value": "bob's"})
    assert (await alice.post("/v1/memory", {"key": key, "value": "alice's"}))[0] == 200
    status, body = await raw_json(stack, alice, "GET", "/v1/memory/" + quote(key, safe=""))
    assert status == 200 and (body["key"], body["value"]) == (key, "alice's")
    listed = (await alice.get("/v1/memory"))[1]
    assert [k["key"] for k in listed["keys"]] == [key]
    assert (await bob.get("/v1/memory/secret"))[1]["value"] == "bob's"
    assert (await raw_json(stack, bob, "GET", "/v1/memory/" + quote(key, safe="")))[0] == 404
    assert await raw_json(stack, alice, "DELETE", "/v1/memory/" + quote(key, safe="")) == (
        200,
        {"status": "deleted", "key": key},
    )


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/v1/memory/..%2Fsecret", 404),
        ("/v1/memory/%2e%2e%2fsecret", 404),
        ("/v1/memory/..%2f..%2fv1%2fmemory%2fsecret", 404),
        ("/v1/memory/%2E%2E/secret", 404),
        ("/v1/memory/../memory/secret", 404),
        ("/v1/memory/./secret", 404),
        ("/v1/memory//secret", 404),
        ("/v1/memory/secret%2F..", 404),
        ("/v1/memory/..", 404),
        ("/v1/memory/sec%72et", 200),
    ],
)
async def test_encoded_traversal_in_a_memory_path_never_reaches_another_key(alice, bob, stack, path, want):
    """Encoded or literal dot segments and slashes are never resolved into another key (nor another agent's):
    the segment is taken literally as one key name, or the path matches no route."""
    await bob.post("/v1/memory", {"key": "secret", "value": "bob's"})
    await alice.post("/v1/memory", {"key": "secret", "value": "alice's"})
    status, body = await raw_json(stack, alice, "GET", path)
    assert status == want, (status, body)
    if status == 200:
        assert body["value"] == "alice's"
    else:
        assert_detail(body)


@pytest.mark.parametrize(
    "namespace", ["../victim", "..%2Fvictim", "a/b", "victim/..", "victim\\x", "ns\r\nx", "%00", "x" * 65]
)
async def test_traversal_in_namespaces_is_422(alice, namespace):
    status, body = await alice.post("/v1/memory", {"key": "k", "value": "v", "namespace": namespace})
    assert status == 422
    assert_invalid(body, ["body", "namespace"])
    status, body = await alice.get("/v1/memory/k", params={"namespace": namespace})
    assert status == 422
    assert_invalid(body, ["query", "namespace"])
    status, body = await alice.post("/v1/shared-memory", {"namespace": namespace, "key": "k", "value": "v"})
    assert status == 422
    assert_invalid(body, ["body", "namespace"])
    status, body = await alice.get("/v1/shared-memory", params={"limit": 200})
    assert status == 200 and namespace not in [n["namespace"] for n in body["namespaces"]]


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/v1/shared-memory/..%2Fvictim-ns", 422),
        ("/v1/shared-memory/%2e%2e%2fvictim-ns/k", 422),
        ("/v1/shared-memory/victim-ns%2F..%2Fother/k", 422),
        ("/v1/shared-memory/..%5Cvictim-ns/k", 422),
        ("/v1/shared-memory/../shared-memory/victim-ns/k", 404),
        ("/v1/shared-memory/victim-ns/../k", 404),
        ("/v1/shared-memory/%2E%2E/k", 404),
        ("/v1/shared-memory/victim-ns/..%2Fk", 404),
    ],
)
async def test_encoded_traversal_in_shared_namespaces(alice, bob, stack, path, want):
    """A namespace may not hold a slash or backslash (422); dot segments are literal names (404 here)."""
    await alice.post("/v1/shared-memory", {"namespace": "victim-ns", "key": "k", "value": "shared"})
    status, body = await raw_json(stack, bob, "GET", path)
    assert status == want, (status, body)
    (assert_invalid if want == 422 else assert_detail)(body)
    if want == 422:
        assert any(e["loc"] == ["path", "namespace"] for e in body["detail"]), body
    status, body = await raw_json(stack, bob, "DELETE", path if path.endswith("/k") else path + "/k")
    assert status in (404, 422), (status, body)
    assert (await alice.get("/v1/shared-memory/victim-ns/k"))[1]["value"] == "shared"


# ── SQL metacharacters ───────────────────────────────────────────────────────────────────────────────────

SQL = "'; DROP TABLE memory.entries; --"


async def test_sql_metacharacters_are_data(alice, bob):
    assert (await alice.post("/v1/memory", {"key": SQL, "value": SQL}))[0] == 200
    status, body = await alice.get("/v1/memory/" + quote(SQL, safe=""))
    assert status == 200 and body["value"] == SQL
    assert (await bob.get("/v1/memory/" + quote(SQL, safe="")))[0] == 404
    status, body = await alice.get("/v1/memory/" + quote("' OR '1'='1", safe=""))
    assert status == 404
    assert_detail(body, "Key not found")
    status, body = await alice.post("/v1/queue/submit", {"payload": SQL, "queue_name": "' OR 1=1 --"})
    assert status == 200
    assert (await bob.post("/v1/queue/claim", params={"queue_name": "' OR 1=1 --"}))[1]["status"] == "empty"
    assert (await alice.post("/v1/queue/claim", params={"queue_name": "' OR 1=1 --"}))[1]["payload"] == SQL
    status, body = await alice.get("/v1/directory/search", params={"capability": "%' OR '1'='1"})
    assert status in (200, 422), body
    if status == 200:
        assert body["count"] == 0


@pytest.mark.parametrize("route", ["/v1/memory", "/v1/shared-memory/meta-ns"])
async def test_prefix_filters_treat_percent_and_underscore_literally(alice, route):
    keys = ["abc", "a_c", "a%c", "_x", "%y", "xyz"]
    for key in keys:
        if route == "/v1/memory":
            assert (await alice.post("/v1/memory", {"key": key, "value": "v"}))[0] == 200
        else:
            assert (
                await alice.post("/v1/shared-memory", {"namespace": "meta-ns", "key": key, "value": "v"})
            )[0] == 200

    async def listed(prefix: str) -> list[str]:
        status, body = await alice.get(route, params={"prefix": prefix})
        assert status == 200, body
        return sorted(k["key"] for k in body["keys" if route == "/v1/memory" else "entries"])

    assert await listed("%") == ["%y"]
    assert await listed("_") == ["_x"]
    assert await listed("a_") == ["a_c"]
    assert await listed("a%") == ["a%c"]
    assert await listed("a") == ["a%c", "a_c", "abc"]
    assert await listed("\\") == []


# ── content types and numbers ────────────────────────────────────────────────────────────────────────────


async def test_wrong_content_types(alice, db):
    # The README's curl quickstart sends JSON with curl's default form content type: accepted as JSON.
    status, _ = await raw(
        alice,
        "POST",
        "/v1/memory",
        b'{"key": "curl", "value": "v"}',
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200
    for body, ctype in (
        (b"key=form&value=v", "application/x-www-form-urlencoded"),
        (
            b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nmp\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
        ),
        (b"<key>xml</key>", "application/xml"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    ):
        status, reply = await raw(alice, "POST", "/v1/memory", body, {"Content-Type": ctype})
        assert status == 422, (ctype, reply)
        assert_invalid(reply)
        assert reply["detail"][0]["type"] == "json_invalid"
    for body in (b"[1, 2]", b'"a string"', b"42", b"null"):
        status, reply = await raw(alice, "POST", "/v1/memory", body, {"Content-Type": "application/json"})
        assert status == 422, (body, reply)
        assert_invalid(reply, ["body"], "model_attributes_type")
    assert [k["key"] for k in (await alice.get("/v1/memory"))[1]["keys"]] == ["curl"]


@pytest.mark.parametrize(
    ("method", "path", "kw", "loc"),
    [
        ("POST", "/v1/queue/submit", {"json": {"payload": "p", "priority": 11}}, ["body", "priority"]),
        ("POST", "/v1/queue/submit", {"json": {"payload": "p", "priority": -1}}, ["body", "priority"]),
        ("POST", "/v1/queue/submit", {"json": {"payload": "p", "priority": 2**70}}, ["body", "priority"]),
        ("POST", "/v1/queue/submit", {"json": {"payload": "p", "priority": 5.5}}, ["body", "priority"]),
        (
            "POST",
            "/v1/queue/submit",
            {"json": {"payload": "p", "delay_seconds": 1e308}},
            ["body", "delay_seconds"],
        ),
        (
            "POST",
            "/v1/queue/submit",
            {"json": {"payload": "p", "run_at": "9999-12-31T23:59:59Z", "delay_seconds": 2_592_000}},
            None,
        ),
        (
            "POST",
            "/v1/memory",
            {"json": {"key": "k", "value": "v", "ttl_seconds": 59}},
            ["body", "ttl_seconds"],
        ),
        (
            "POST",
            "/v1/memory",
            {"json": {"key": "k", "value": "v", "ttl_seconds": 2**63}},
            ["body", "ttl_seconds"],
        ),
        ("GET", "/v1/memory", {"params": {"limit": "0"}}, ["query", "limit"]),
        ("GET", "/v1/memory", {"params": {"limit": "1e3"}}, ["query", "limit"]),
        ("GET", "/v1/memory", {"params": {"limit": str(2**64)}}, ["query", "limit"]),
        ("GET", "/v1/relay/inbox", {"params": {"offset": "-1"}}, ["query", "offset"]),
        ("GET", "/v1/relay/inbox", {"params": {"offset": str(10**20)}}, ["query", "offset"]),
        ("GET", "/v1/relay/inbox", {"params": {"offset": str(2**63 - 1)}}, None),
        ("POST", "/v1/events/ack", {"json": {"cursor": 10**20}}, ["body", "cursor"]),
        ("POST", "/v1/events/ack", {"json": {"cursor": 2**63 - 1}}, None),
        ("POST", "/v1/events/ack", {"json": {"cursor": -1}}, ["body", "cursor"]),
        ("GET", "/v1/events", {"params": {"after": str(10**20)}}, ["query", "after"]),
        ("GET", "/v1/events", {"params": {"after": str(2**63 - 1)}}, None),
        ("GET", "/v1/marketplace/tasks", {"params": {"min_reward": str(2**31)}}, ["query", "min_reward"]),
        (
            "POST",
            "/v1/marketplace/tasks",
            {"json": {"title": "t", "reward_credits": 10_001}},
            ["body", "reward_credits"],
        ),
        (
            "POST",
            "/v1/marketplace/tasks",
            {"json": {"title": "t", "reward_credits": -5}},
            ["body", "reward_credits"],
        ),
        (
            "POST",
            "/v1/testing/scenarios",
            {"json": {"pattern": "leader_election", "agent_count": 10**6}},
            ["body", "agent_count"],
        ),
        ("GET", "/v1/directory/search", {"params": {"min_reputation": "nan"}}, None),
        ("GET", "/v1/directory/search", {"params": {"min_reputation": "inf"}}, None),
        ("GET", "/v1/directory/search", {"params": {"min_reputation": "1e400"}}, None),
    ],
)
async def test_numbers_out_of_range_are_422(alice, method, path, kw, loc):
    status, body, _ = await alice.request(method, path, **kw)
    if loc is None:  # range not declared by the contract: a clean answer either way, never a crash
        assert status in (200, 400, 422), (status, body)
        if status == 422:
            assert_invalid(body)
        elif status == 400:
            assert_detail(body)
        return
    assert status == 422, body
    assert_invalid(body, loc)


async def test_job_attempt_out_of_range_is_never_a_500(alice):
    job = (await alice.post("/v1/queue/submit", {"payload": "p", "queue_name": "range"}))[1]["job_id"]
    assert (await alice.post("/v1/queue/claim", params={"queue_name": "range"}))[0] == 200
    for suffix, extra in (
        ("complete", {"attempt": 2**40}),
        ("fail", {"attempt": 2**40}),
        ("heartbeat", {"attempt": 2**40}),
        ("heartbeat", {"extend_seconds": 2**40}),
    ):
        status, body = await alice.post(f"/v1/queue/{job}/{suffix}", extra)
        assert status == 422, (suffix, extra, status, body)
        assert_invalid(body, ["body", next(iter(extra))])
    for suffix in (
        "complete",
        "fail",
        "heartbeat",
    ):  # the largest storable attempt: a lost lease, not a crash
        status, body = await alice.post(f"/v1/queue/{job}/{suffix}", {"attempt": 2**31 - 1})
        assert status == 409, (suffix, status, body)
        assert_detail(body, "Lease lost")
    assert (await alice.get(f"/v1/queue/{job}"))[1]["status"] == "processing"


# ── the cross-agent matrix ───────────────────────────────────────────────────────────────────────────────


@dataclass
class World:
    """Agent A's records (one of each kind), and a third agent C who works A's marketplace task."""

    a: Api
    b: Api
    c: Api
    ids: dict[str, str]


@pytest.fixture
async def world(register) -> World:
    a, b, c = await register("owner-a"), await register("intruder-b"), await register("worker-c")
    ids: dict[str, str] = {"agent_id": a.agent_id}
    assert (await a.post("/v1/memory", {"key": "private", "value": "A-secret"}))[0] == 200
    assert (await a.post("/v1/shared-memory", {"namespace": "a-ns", "key": "pub", "value": "A-shared"}))[
        0
    ] == 200
    assert (await a.post("/v1/vector/upsert", {"key": "a-vec", "text": "A-secret vector memory"}))[0] == 200
    ids["job_id"] = (await a.post("/v1/queue/submit", {"payload": "A-job", "queue_name": "a-q"}))[1]["job_id"]
    ids["claimed_job_id"] = (await a.post("/v1/queue/submit", {"payload": "A-job2", "queue_name": "a-q2"}))[
        1
    ]["job_id"]
    assert (await a.post("/v1/queue/claim", params={"queue_name": "a-q2"}))[1]["job_id"] == ids[
        "claimed_job_id"
    ]
    hook = (await a.post("/v1/webhooks", {"url": UNREACHABLE_WEBHOOK, "event_types": ["message.received"]}))[
        1
    ]
    ids["webhook_id"] = hook["webhook_id"]
    assert (await c.post("/v1/relay/send", {"to_agent": a.agent_id, "payload": "for A"}))[0] == 200
    inbox = (await a.get("/v1/relay/inbox"))[1]
    ids["message_id"] = inbox["messages"][0]["message_id"]

    async def delivery() -> str | None:
        log = (await a.get(f"/v1/webhooks/{ids['webhook_id']}/deliveries"))[1]
        return log["deliveries"][0]["delivery_id"] if log["deliveries"] else None

    ids["delivery_id"] = await until("A's webhook delivery record", delivery)
    status, sched = await a.post("/v1/schedules", {"cron_expr": "0 0 1 1 *", "payload": "A-cron"})
    assert status == 200, sched
    ids["schedule_id"] = sched["task_id"]
    ids["open_task_id"] = (await a.post("/v1/marketplace/tasks", {"title": "A open", "reward_credits": 5}))[
        1
    ]["task_id"]
    worked = (await a.post("/v1/marketplace/tasks", {"title": "A worked", "reward_credits": 7}))[1]["task_id"]
    ids["worked_task_id"] = worked
    assert (await c.post(f"/v1/marketplace/tasks/{worked}/claim"))[0] == 200
    assert (await c.post(f"/v1/marketplace/tasks/{worked}/deliver", {"result": "C-result"}))[0] == 200
    status, scen = await a.post("/v1/testing/scenarios", {"pattern": "leader_election", "agent_count": 2})
    assert status == 200, scen
    ids["scenario_id"] = scen["scenario_id"]
    status, session = await a.post("/v1/sessions", {"title": "A-session"})
    assert status == 200, session
    ids["session_id"] = session["session_id"]
    assert (
        await a.post(
            f"/v1/sessions/{ids['session_id']}/messages", {"role": "user", "content": "A-secret said"}
        )
    )[0] == 200
    # task graphs: a pending task, one C is running, one C completed with a result
    for name in ("pending_graph_task", "running_graph_task", "done_graph_task"):
        status, task = await a.post("/v1/tasks", {"title": name, "description": "a public board entry"})
        assert status == 200, task
        ids[name] = task["task_id"]
    for name in ("running_graph_task", "done_graph_task"):
        assert (await c.post(f"/v1/tasks/{ids[name]}/claim"))[0] == 200
    assert (await c.post(f"/v1/tasks/{ids['done_graph_task']}/complete", {"result": "C-result"}))[0] == 200
    assert (await a.post("/v1/agents/heartbeat", {"status": "busy", "metadata": {"note": "A-secret"}}))[
        0
    ] == 200
    assert (await a.post("/v1/pubsub/subscribe", {"channel": f"a-only.{a.agent_id}"}))[0] == 200
    # A2A: C's task to A (A's work queue), and an outside agent A listed
    status, sent, _ = await c.request(
        "POST",
        f"/a2a/{a.agent_id}/message:send",
        json={
            "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "A-secret task"}]},
            "configuration": {"returnImmediately": True},
        },
        headers={"A2A-Version": "1.0"},
        envelope=True,
    )
    assert status == 200, sent
    ids["a2a_task_id"] = sent["task"]["id"]
    ids["external_id"] = await _outside_agent_listed_by(a)
    return World(a, b, c, ids)


async def _outside_agent_listed_by(agent: Api) -> str:
    card = {
        "name": "A-outside",
        "description": "d",
        "supportedInterfaces": [
            {"url": "https://x.example/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ],
        "version": "1",
        "capabilities": {},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [],
    }

    async def serve(request: web.Request) -> web.Response:
        return web.json_response(card)

    app = web.Application()
    app.router.add_get("/card", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        status, listed = await agent.post("/v1/a2a/agents", {"card_url": f"http://127.0.0.1:{port}/card"})
        assert status == 200, listed
        return str(listed["external_id"])
    finally:
        await runner.cleanup()


async def _a_is_untouched(w: World) -> None:
    """After B's attempts, every one of A's records is exactly as A left it."""
    a, ids = w.a, w.ids
    assert (await a.get("/v1/memory/private"))[1]["value"] == "A-secret"
    a2a_tasks = (await a.get("/v1/a2a/tasks"))[1]["tasks"]
    assert [(t["id"], t["status"]["state"]) for t in a2a_tasks] == [
        (ids["a2a_task_id"], "TASK_STATE_SUBMITTED")
    ]
    listed = (await a.get("/v1/a2a/agents", params={"include_hosted": "false"}))[1]["agents"]
    assert ids["external_id"] in [x["external_id"] for x in listed]
    assert (await a.get("/v1/shared-memory/a-ns/pub"))[1]["value"] == "A-shared"
    assert (await a.get("/v1/vector/a-vec"))[1]["text"] == "A-secret vector memory"
    job = (await a.get(f"/v1/queue/{ids['job_id']}"))[1]
    assert (job["status"], job["attempts"], job["result"]) == ("pending", 0, None)
    claimed = (await a.get(f"/v1/queue/{ids['claimed_job_id']}"))[1]
    assert claimed["status"] == "processing"
    assert (await a.get("/v1/relay/inbox"))[1]["count"] == 1  # still unread
    assert [h["webhook_id"] for h in (await a.get("/v1/webhooks"))[1]["webhooks"]] == [ids["webhook_id"]]
    log = (await a.get(f"/v1/webhooks/{ids['webhook_id']}/deliveries"))[1]["deliveries"]
    assert all(d["event_type"] != "webhook.test" for d in log)  # B's test send reached nothing of A's
    sched = (await a.get(f"/v1/schedules/{ids['schedule_id']}"))[1]
    assert sched["enabled"] is True
    assert (await a.get(f"/v1/schedules/{ids['schedule_id']}/runs"))[1]["count"] == 0
    assert (await a.get(f"/v1/marketplace/tasks/{ids['open_task_id']}"))[1]["status"] == "open"
    worked = (await a.get(f"/v1/marketplace/tasks/{ids['worked_task_id']}"))[1]
    assert (worked["status"], worked["claimed_by"], worked["result"]) == (
        "delivered",
        w.c.agent_id,
        "C-result",
    )
    assert (await a.get(f"/v1/testing/scenarios/{ids['scenario_id']}/results"))[1]["status"] == "created"
    meta = (await a.get("/v1/memory/private/meta"))[1]
    assert (meta["version"], meta["visibility"], meta["shared_agents"]) == (1, "private", [])
    session = (await a.get(f"/v1/sessions/{ids['session_id']}"))[1]
    assert session["messages"] == [{"role": "user", "content": "A-secret said"}]
    pending = (await a.get(f"/v1/tasks/{ids['pending_graph_task']}"))[1]
    assert (pending["status"], pending["depends_on"], len(pending["history"])) == ("pending", [], 1)
    running = (await a.get(f"/v1/tasks/{ids['running_graph_task']}"))[1]
    assert (running["status"], running["claimed_by"]) == ("running", w.c.agent_id)
    done = (await a.get(f"/v1/tasks/{ids['done_graph_task']}"))[1]
    assert (done["status"], done["result"]) == ("completed", "C-result")
    message = (await a.get(f"/v1/messages/{ids['message_id']}/status"))[1]
    assert (message["status"], message["to_agent"]) == ("delivered", a.agent_id)


def _leaks(body: Any) -> bool:
    """Whether a response body carries any of A's private values."""
    text = orjson.dumps(body).decode() if not isinstance(body, bytes) else body.decode(errors="replace")
    return any(secret in text for secret in ("A-secret", "A-job", "A-cron", "C-result", UNREACHABLE_WEBHOOK))


# (method, path) → how B's attempt on A's record is answered: (status, detail) and the request it makes.
# Private data answers 404 exactly like a missing record; marketplace and scenario actions answer 403
# (the contract); public-by-design reads answer 200 and must still show nothing private.
CROSS_AGENT: dict[
    tuple[str, str], tuple[int, str | None, Callable[[dict[str, str]], tuple[str, dict[str, Any]]]]
] = {
    ("GET", "/v1/memory/{key}"): (404, "Key not found or expired", lambda i: ("/v1/memory/private", {})),
    ("DELETE", "/v1/memory/{key}"): (404, "Key not found", lambda i: ("/v1/memory/private", {})),
    # shared memory is readable by every agent by design; deleting removes only the caller's own row
    ("GET", "/v1/shared-memory/{namespace}"): (200, None, lambda i: ("/v1/shared-memory/a-ns", {})),
    ("GET", "/v1/shared-memory/{namespace}/{key}"): (200, None, lambda i: ("/v1/shared-memory/a-ns/pub", {})),
    ("DELETE", "/v1/shared-memory/{namespace}/{key}"): (
        404,
        "Key not found",
        lambda i: ("/v1/shared-memory/a-ns/pub", {}),
    ),
    ("GET", "/v1/vector/{key}"): (404, "Vector entry not found", lambda i: ("/v1/vector/a-vec", {})),
    ("DELETE", "/v1/vector/{key}"): (404, "Vector entry not found", lambda i: ("/v1/vector/a-vec", {})),
    ("GET", "/v1/queue/{job_id}"): (404, "Job not found", lambda i: (f"/v1/queue/{i['job_id']}", {})),
    ("POST", "/v1/queue/{job_id}/complete"): (
        404,
        None,
        lambda i: (f"/v1/queue/{i['claimed_job_id']}/complete", {"params": {"result": "B"}}),
    ),
    ("POST", "/v1/queue/{job_id}/fail"): (
        404,
        None,
        lambda i: (f"/v1/queue/{i['claimed_job_id']}/fail", {"json": {"error": "B"}}),
    ),
    ("POST", "/v1/queue/{job_id}/heartbeat"): (
        404,
        None,
        lambda i: (f"/v1/queue/{i['claimed_job_id']}/heartbeat", {"json": {}}),
    ),
    ("POST", "/v1/queue/{job_id}/replay"): (
        404,
        "Job not found",
        lambda i: (f"/v1/queue/{i['job_id']}/replay", {}),
    ),
    ("POST", "/v1/relay/{message_id}/read"): (
        404,
        "Message not found or already read",
        lambda i: (f"/v1/relay/{i['message_id']}/read", {}),
    ),
    ("DELETE", "/v1/webhooks/{webhook_id}"): (
        404,
        "Webhook not found",
        lambda i: (f"/v1/webhooks/{i['webhook_id']}", {}),
    ),
    ("POST", "/v1/webhooks/{webhook_id}/test"): (
        404,
        "Webhook not found",
        lambda i: (f"/v1/webhooks/{i['webhook_id']}/test", {}),
    ),
    # the template catalogue is public by design and holds no agent's data
    ("GET", "/v1/templates/{template_id}"): (200, None, lambda i: ("/v1/templates/tmpl_worker", {})),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): (
        404,
        "Webhook not found",
        lambda i: (f"/v1/webhooks/{i['webhook_id']}/deliveries", {}),
    ),
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): (
        404,
        None,
        lambda i: (f"/v1/webhooks/{i['webhook_id']}/deliveries/{i['delivery_id']}/replay", {}),
    ),
    ("GET", "/v1/schedules/{task_id}"): (404, None, lambda i: (f"/v1/schedules/{i['schedule_id']}", {})),
    ("PATCH", "/v1/schedules/{task_id}"): (
        404,
        None,
        lambda i: (f"/v1/schedules/{i['schedule_id']}", {"params": {"enabled": "false"}}),
    ),
    ("DELETE", "/v1/schedules/{task_id}"): (404, None, lambda i: (f"/v1/schedules/{i['schedule_id']}", {})),
    ("POST", "/v1/schedules/{task_id}/trigger"): (
        404,
        None,
        lambda i: (f"/v1/schedules/{i['schedule_id']}/trigger", {}),
    ),
    ("GET", "/v1/schedules/{task_id}/runs"): (
        404,
        None,
        lambda i: (f"/v1/schedules/{i['schedule_id']}/runs", {}),
    ),
    # an agent card is public by design (only public agents have one)
    ("GET", "/v1/agents/{agent_id}/card"): (200, None, lambda i: (f"/v1/agents/{i['agent_id']}/card", {})),
    # a public profile is public by design; A's heartbeat metadata (one's own) is not in it
    ("GET", "/v1/directory/{agent_id}"): (200, None, lambda i: (f"/v1/directory/{i['agent_id']}", {})),
    # marketplace tasks are public listings; the delivered result is shown only to creator and worker
    ("GET", "/v1/marketplace/tasks/{task_id}"): (
        200,
        None,
        lambda i: (f"/v1/marketplace/tasks/{i['worked_task_id']}", {}),
    ),
    ("POST", "/v1/marketplace/tasks/{task_id}/claim"): (
        409,
        "Task is not open",
        lambda i: (f"/v1/marketplace/tasks/{i['worked_task_id']}/claim", {}),
    ),
    ("POST", "/v1/marketplace/tasks/{task_id}/deliver"): (
        403,
        "Only the claimant can deliver",
        lambda i: (f"/v1/marketplace/tasks/{i['worked_task_id']}/deliver", {"json": {"result": "B-result"}}),
    ),
    ("POST", "/v1/marketplace/tasks/{task_id}/review"): (
        403,
        "Only the creator can review",
        lambda i: (
            f"/v1/marketplace/tasks/{i['worked_task_id']}/review",
            {"json": {"accept": True, "rating": 5}},
        ),
    ),
    ("POST", "/v1/marketplace/tasks/{task_id}/cancel"): (
        403,
        "Only the creator can cancel",
        lambda i: (f"/v1/marketplace/tasks/{i['open_task_id']}/cancel", {}),
    ),
    ("POST", "/v1/testing/scenarios/{scenario_id}/run"): (
        403,
        "Only the creator can run this scenario",
        lambda i: (f"/v1/testing/scenarios/{i['scenario_id']}/run", {}),
    ),
    ("GET", "/v1/testing/scenarios/{scenario_id}/results"): (
        404,
        "Scenario not found",
        lambda i: (f"/v1/testing/scenarios/{i['scenario_id']}/results", {}),
    ),
    # MoltGrid 1.0 memory: a key path names the caller's own entry; another agent's entry is read only through
    # the cross-agent route, where a private one is as absent as a missing one
    ("PATCH", "/v1/memory/{key}/visibility"): (
        404,
        "Key not found or expired",
        lambda i: (
            "/v1/memory/private/visibility",
            {"json": {"visibility": "shared", "shared_agents": ["agent_b"]}},
        ),
    ),
    ("GET", "/v1/memory/{key}/history"): (
        404,
        "Key not found or expired",
        lambda i: ("/v1/memory/private/history", {}),
    ),
    ("GET", "/v1/memory/{key}/meta"): (
        404,
        "Key not found or expired",
        lambda i: ("/v1/memory/private/meta", {}),
    ),
    ("GET", "/v1/agents/{target_agent_id}/memory/{key}"): (
        404,
        "Key not found or expired",
        lambda i: (f"/v1/agents/{i['agent_id']}/memory/private", {}),
    ),
    ("GET", "/v1/sessions/{session_id}"): (
        404,
        "Session not found",
        lambda i: (f"/v1/sessions/{i['session_id']}", {}),
    ),
    ("DELETE", "/v1/sessions/{session_id}"): (
        404,
        "Session not found",
        lambda i: (f"/v1/sessions/{i['session_id']}", {}),
    ),
    ("POST", "/v1/sessions/{session_id}/messages"): (
        404,
        "Session not found",
        lambda i: (
            f"/v1/sessions/{i['session_id']}/messages",
            {"json": {"role": "user", "content": "B-injected"}},
        ),
    ),
    ("POST", "/v1/sessions/{session_id}/summarize"): (
        404,
        "Session not found",
        lambda i: (f"/v1/sessions/{i['session_id']}/summarize", {}),
    ),
    ("POST", "/v1/tiered/summarize/{session_id}"): (
        404,
        "Session not found",
        lambda i: (f"/v1/tiered/summarize/{i['session_id']}", {}),
    ),
    # task graphs are a shared board (any agent reads and claims); the result is the creator's and claimer's,
    # and only they move a task on
    ("GET", "/v1/tasks/{task_id}"): (200, None, lambda i: (f"/v1/tasks/{i['done_graph_task']}", {})),
    ("PATCH", "/v1/tasks/{task_id}"): (
        403,
        "Only the creator can move a pending task to cancelled",
        lambda i: (f"/v1/tasks/{i['pending_graph_task']}", {"json": {"status": "cancelled"}}),
    ),
    ("POST", "/v1/tasks/{task_id}/claim"): (
        409,
        "Task is not pending (status: running)",
        lambda i: (f"/v1/tasks/{i['running_graph_task']}/claim", {}),
    ),
    ("POST", "/v1/tasks/{task_id}/complete"): (
        403,
        "Only the agent that claimed the task can move it to completed",
        lambda i: (f"/v1/tasks/{i['running_graph_task']}/complete", {"json": {"result": "B-result"}}),
    ),
    ("POST", "/v1/tasks/{task_id}/dependencies"): (
        403,
        "Only the creator can add dependencies",
        lambda i: (
            f"/v1/tasks/{i['pending_graph_task']}/dependencies",
            {"json": {"depends_on": i["done_graph_task"]}},
        ),
    ),
    # a message's status and trace are its sender's and recipient's (C sent it to A)
    ("GET", "/v1/messages/{message_id}/status"): (
        404,
        "Message not found",
        lambda i: (f"/v1/messages/{i['message_id']}/status", {}),
    ),
    ("GET", "/v1/messages/{message_id}/trace"): (
        404,
        "Message not found",
        lambda i: (f"/v1/messages/{i['message_id']}/trace", {}),
    ),
    # an A2A task is its caller's and its hosted agent's only; an outside listing is its lister's
    ("POST", "/v1/a2a/tasks/{task_id}/status"): (
        404,
        "Task not found",
        lambda i: (f"/v1/a2a/tasks/{i['a2a_task_id']}/status", {"json": {"state": "TASK_STATE_COMPLETED"}}),
    ),
    ("DELETE", "/v1/a2a/agents/{external_id}"): (
        403,
        "Only the agent that listed it (or an admin) may remove it",
        lambda i: (f"/v1/a2a/agents/{i['external_id']}", {}),
    ),
}


def test_cross_agent_matrix_covers_every_route_with_a_path_id():
    with_ids = {(r.method, r.path) for r in ROUTES if "{" in r.path}
    assert with_ids - set(CROSS_AGENT) == set(), "id-bearing routes without a cross-agent case"
    assert set(CROSS_AGENT) - with_ids == set(), "cross-agent cases for routes that no longer exist"


async def test_cross_agent_matrix(world: World):
    w = world
    problems = []
    for (method, template), (want, detail, build) in CROSS_AGENT.items():
        path, kw = build(w.ids)
        status, body, _ = await w.b.request(method, path, **kw)
        if status != want:
            problems.append(f"{method} {template}: {status} {body!r} (want {want})")
            continue
        if want >= 400:
            try:
                assert_detail(body, detail)
            except AssertionError as exc:
                problems.append(f"{method} {template}: {exc}")
        if _leaks(body):
            problems.append(f"{method} {template}: leaked A's data: {body!r}")
    assert problems == []
    # the public reads show what is public and nothing more
    status, task = await w.b.get(f"/v1/marketplace/tasks/{w.ids['worked_task_id']}")
    assert status == 200 and task["result"] is None and task["status"] == "delivered"
    status, entry = await w.b.get("/v1/shared-memory/a-ns/pub")
    assert status == 200 and entry["value"] == "A-shared"
    status, task = await w.b.get(f"/v1/tasks/{w.ids['done_graph_task']}")
    assert status == 200 and task["result"] is None and task["status"] == "completed"
    await _a_is_untouched(w)


async def test_cross_agent_ids_in_bodies_and_queries(world: World):
    """Ids that travel in a body or a query: the same rule — never another agent's data or effect."""
    w = world
    # B cannot claim A's jobs, whatever queue it names
    for queue in ("a-q", "a-q2", "default"):
        status, body = await w.b.post("/v1/queue/claim", params={"queue_name": queue})
        assert (status, body["status"]) == (200, "empty"), body
    # B's job list and stats name none of A's jobs
    status, body = await w.b.get("/v1/queue", params={"queue_name": "a-q"})
    assert status == 200 and body["jobs"] == []
    # B reading memory in A's namespace sees only B's own (empty) namespace
    status, body = await w.b.get("/v1/memory", params={"namespace": "default"})
    assert status == 200 and body["count"] == 0
    # an agent_id smuggled into the body or query is ignored: identity comes from the key only
    status, body = await w.b.get("/v1/memory/private", params={"agent_id": w.a.agent_id})
    assert status == 404
    status, body = await w.b.post(
        "/v1/memory", {"key": "private", "value": "B-overwrite", "agent_id": w.a.agent_id}
    )
    assert status == 200
    # vector memory: B's search and listing never reach A's entries, whatever agent_id B sends
    status, body = await w.b.post(
        "/v1/vector/search", {"query": "A-secret vector memory", "limit": 100, "agent_id": w.a.agent_id}
    )
    assert status == 200 and body["count"] == 0 and not _leaks(body)
    status, body = await w.b.get("/v1/vector", params={"agent_id": w.a.agent_id})
    assert status == 200 and body["count"] == 0
    status, body = await w.b.post(
        "/v1/vector/upsert", {"key": "a-vec", "text": "B-overwrite", "agent_id": w.a.agent_id}
    )
    assert status == 200
    status, body = await w.b.get("/v1/relay/inbox", params={"agent_id": w.a.agent_id, "unread_only": "false"})
    assert status == 200 and body["count"] == 0
    status, body = await w.b.get("/v1/shared-memory/a-ns/pub", params={"owner_agent": w.b.agent_id})
    assert status == 404
    # sessions travel in bodies too (tiered memory), and recall searches only the caller's own memory
    status, body = await w.b.post(
        "/v1/tiered/store_event", {"session_id": w.ids["session_id"], "data": "B-event"}
    )
    assert (status, body) == (404, {"detail": "Session not found"})
    status, body = await w.b.post(
        "/v1/tiered/recall", {"query": "A-secret said", "session_id": w.ids["session_id"]}
    )
    assert status == 200 and body["results"] == []
    status, body = await w.b.get("/v1/memory-access-log")
    assert status == 200 and body["reads"] == []
    # B lists A's tasks (a shared board) without their results; B's task filters name no one else's results
    status, body = await w.b.get("/v1/tasks", params={"creator": w.a.agent_id})
    assert status == 200 and body["count"] == 3 and not _leaks(body)
    status, body = await w.b.get("/v1/tasks", params={"claimed_by": w.c.agent_id})
    assert status == 200 and all(t["result"] is None for t in body["tasks"]) and not _leaks(body)
    # B acknowledging A's event ids by id only records them for B
    a_events = (await w.a.get("/v1/events", params={"after": 0}))[1]["events"]
    assert (await w.b.post("/v1/events/ack", {"event_ids": [e["id"] for e in a_events]}))[0] == 200
    assert [e["id"] for e in (await w.a.get("/v1/events"))[1]["events"]][: len(a_events)] == [
        e["id"] for e in a_events
    ]
    # B sees, and can drop, only B's own pub/sub subscriptions; A's heartbeat is A's
    status, body = await w.b.get("/v1/pubsub/subscriptions", params={"agent_id": w.a.agent_id})
    assert status == 200 and body["count"] == 0
    status, body = await w.b.post(
        "/v1/pubsub/unsubscribe", {"channel": f"a-only.{w.a.agent_id}", "agent_id": w.a.agent_id}
    )
    assert status == 200 and body["status"] == "not_subscribed"
    assert (await w.a.get("/v1/pubsub/subscriptions"))[1]["count"] == 1
    status, body = await w.b.post("/v1/heartbeat", {"status": "offline", "agent_id": w.a.agent_id})
    assert status == 200 and body["agent_id"] == w.b.agent_id
    me = (await w.a.get("/v1/directory/me"))[1]
    assert (me["heartbeat_status"], me["heartbeat_metadata"]) == ("busy", {"note": "A-secret"})
    # B's event cursor is B's own: acknowledging far ahead does not hide A's events from A
    status, body = await w.b.post("/v1/events/ack", {"cursor": 1_000_000})
    assert status == 200 and body == {"status": "acknowledged", "cursor": 1_000_000}
    status, events = await w.a.get("/v1/events", params={"after": 0})
    assert status == 200 and events["count"] >= 1
    status, events = await w.b.get("/v1/events", params={"after": 0})
    assert (
        status == 200
        and not _leaks(events)
        and all(e.get("agent_id", w.b.agent_id) == w.b.agent_id for e in events["events"])
    )
    await _a_is_untouched(w)


async def test_websocket_frames_nested_too_deep_or_malformed_keep_the_socket(alice, bob, http, stack):
    """The relay socket answers hostile frames with an error frame and stays usable."""
    ws = await http.ws_connect(f"{stack.base_url}/v1/relay/ws", params={"api_key": alice.key, "hello": "1"})
    try:
        assert (await ws.receive_json(timeout=5))["event"] == "connected"
        deep = '{"to_agent": "' + bob.agent_id + '", "payload": ' + "[" * 300 + "]" * 300 + "}"
        await ws.send_str(deep)
        frame = await ws.receive_json(timeout=5)
        assert (frame["event"], frame["status"]) == ("error", 422), frame
        await ws.send_str("[" * 5000)  # past the parser's own depth: not JSON at all
        assert (await ws.receive_json(timeout=5))["status"] == 400
        await ws.send_json({"to_agent": bob.agent_id, "payload": "still here"})
        assert (await ws.receive_json(timeout=5))["event"] == "message.sent"
    finally:
        await ws.close()
    status, inbox = await bob.get("/v1/relay/inbox")
    assert status == 200 and [m["payload"] for m in inbox["messages"]] == ["still here"]


async def test_admin_routes_refuse_an_agents_api_key(world: World):
    """An API key (any agent's) is no admin session: every admin route, with A's ids in its path, is a 401."""
    for route in ADMIN_ROUTES:
        path = route.path.format(agent_id=world.ids["agent_id"], namespace="default", key="private")
        status, body, _ = await world.b.request(route.method, path)
        assert status == 401, (route, body)
        assert_detail(body, "Admin session required")
    assert (await world.a.get("/v1/memory/private"))[1]["value"] == "A-secret"

"""Private memory and shared memory, through the gateway, against the contract's exchanges."""

from __future__ import annotations

import asyncio

import pytest

from tests.memory_ops import memory_op

ISO_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$"


async def test_set_get_update_list_delete(alice):
    assert await alice.post("/v1/memory", {"key": "k1", "value": "v1"}) == (  # the seed's fields, then 1.0's
        200,
        {"status": "stored", "key": "k1", "namespace": "default", "visibility": "private", "version": 1},
    )
    assert (await alice.post("/v1/memory", {"key": "k1", "value": "v2"}))[0] == 200
    status, body = await alice.get("/v1/memory/k1")
    assert status == 200
    assert set(body) == {"key", "value", "namespace", "updated_at", "expires_at", "version"}
    assert (body["key"], body["value"], body["namespace"], body["expires_at"], body["version"]) == (
        "k1",
        "v2",
        "default",
        None,
        2,
    )
    assert body["updated_at"].endswith("+00:00") and len(body["updated_at"]) == 32

    status, listing = await alice.get("/v1/memory")
    assert status == 200
    assert listing["namespace"] == "default" and listing["count"] == 1
    assert listing["keys"][0]["key"] == "k1" and listing["keys"][0]["size_bytes"] == 2
    assert set(listing["keys"][0]) == {"key", "size_bytes", "updated_at", "expires_at"}

    assert await alice.delete("/v1/memory/k1") == (200, {"status": "deleted", "key": "k1"})
    assert await alice.delete("/v1/memory/k1") == (404, {"detail": "Key not found"})
    assert await alice.get("/v1/memory/k1") == (404, {"detail": "Key not found or expired"})


async def test_namespace_ttl_and_prefix(alice):
    status, body = await alice.post(
        "/v1/memory", {"key": "user:1", "value": "x", "namespace": "ns", "ttl_seconds": 3600}
    )
    assert (status, body) == (
        200,
        {"status": "stored", "key": "user:1", "namespace": "ns", "visibility": "private", "version": 1},
    )
    await alice.post("/v1/memory", {"key": "other", "value": "y", "namespace": "ns"})
    status, body = await alice.get("/v1/memory/user:1", params={"namespace": "ns"})
    assert status == 200 and body["value"] == "x" and body["expires_at"] is not None
    assert (await alice.get("/v1/memory/user:1"))[0] == 404  # default namespace is separate
    status, listing = await alice.get("/v1/memory", params={"namespace": "ns", "prefix": "user:"})
    assert [k["key"] for k in listing["keys"]] == ["user:1"] and listing["count"] == 1
    assert listing["keys"][0]["expires_at"] is not None


async def test_list_limit_and_order(alice):
    for i in range(5):
        await alice.post("/v1/memory", {"key": f"k{i}", "value": str(i), "namespace": "many"})
    status, listing = await alice.get("/v1/memory", params={"namespace": "many", "limit": 3})
    assert status == 200 and [k["key"] for k in listing["keys"]] == ["k0", "k1", "k2"]
    assert (await alice.get("/v1/memory", params={"limit": 201}))[0] == 422


async def test_unicode_and_special_keys(alice):
    key = "ключ/with spaces?&=#"
    value = "значение 🚀 ' \" ; DROP TABLE memory.entries; --"
    assert (await alice.post("/v1/memory", {"key": key, "value": value}))[0] == 200
    from urllib.parse import quote

    status, body = await alice.get("/v1/memory/" + quote(key, safe=""))
    assert status == 200 and body["value"] == value and body["key"] == key


async def test_isolation_between_agents(alice, bob):
    await alice.post("/v1/memory", {"key": "secret", "value": "alice-only", "namespace": "private"})
    assert await bob.get("/v1/memory/secret", params={"namespace": "private"}) == (
        404,
        {"detail": "Key not found or expired"},
    )
    status, listing = await bob.get("/v1/memory", params={"namespace": "private"})
    assert status == 200 and listing["count"] == 0
    assert (await bob.delete("/v1/memory/secret", params={"namespace": "private"}))[0] == 404
    # Bob writing the same key creates his own entry and never touches Alice's.
    await bob.post("/v1/memory", {"key": "secret", "value": "bob", "namespace": "private"})
    assert (await alice.get("/v1/memory/secret", params={"namespace": "private"}))[1]["value"] == "alice-only"


@pytest.mark.parametrize(
    "body, loc, kind",
    [
        ({"key": "k"}, ["body", "value"], "missing"),
        ({"value": "v"}, ["body", "key"], "missing"),
        ({"key": "t", "value": "x", "ttl_seconds": 1}, ["body", "ttl_seconds"], "greater_than_equal"),
        ({"key": "t", "value": "x", "ttl_seconds": 2_592_001}, ["body", "ttl_seconds"], "less_than_equal"),
        ({"key": "big", "value": "x" * 50_001}, ["body", "value"], "string_too_long"),
        ({"key": "k" * 257, "value": "x"}, ["body", "key"], "string_too_long"),
        ({"key": "k", "value": 5}, ["body", "value"], "string_type"),
        ({"key": "k", "value": "v", "namespace": "a b"}, ["body", "namespace"], "string_pattern_mismatch"),
        ({"key": "k", "value": "v", "namespace": "n" * 65}, ["body", "namespace"], "string_too_long"),
        ({"key": "k", "value": "nul\u0000byte"}, ["body", "value"], "value_error"),
        ({"key": "k", "value": "v", "ttl_seconds": "soon"}, ["body", "ttl_seconds"], "int_parsing"),
    ],
)
async def test_bad_input_is_422_in_fastapi_shape(alice, body, loc, kind):
    status, resp = await alice.post("/v1/memory", body)
    assert status == 422
    errors = resp["detail"]
    assert any(e["loc"] == loc and e["type"] == kind for e in errors), errors
    assert all({"type", "loc", "msg"} <= set(e) for e in errors)


async def test_value_at_limit_is_stored(alice):
    assert (await alice.post("/v1/memory", {"key": "max", "value": "x" * 50_000}))[0] == 200
    status, body = await alice.get("/v1/memory/max")
    assert status == 200 and len(body["value"]) == 50_000


async def test_malformed_bodies(alice):
    status, body, _ = await alice.request(
        "POST", "/v1/memory", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 422 and body["detail"][0]["type"] == "json_invalid"
    status, body, _ = await alice.request("POST", "/v1/memory", data=b"\xff\xfe\x00garbage")
    assert status == 422
    status, body = await alice.post("/v1/memory", ["key", "value"])
    assert status == 422 and body["detail"][0]["loc"] == ["body"]
    deep = "[" * 5000 + "]" * 5000
    status, body, _ = await alice.request("POST", "/v1/memory", data=deep.encode())
    assert status == 422
    status, _, _ = await alice.request("POST", "/v1/memory", data=b"x" * (2 * 1024 * 1024))
    assert status == 413


async def test_query_param_validation(alice):
    status, body = await alice.get("/v1/memory/k", params={"namespace": "bad namespace!"})
    assert status == 422 and body["detail"][0]["loc"] == ["query", "namespace"]


async def test_expired_values_are_never_returned_and_are_swept(alice, stack, db):
    await alice.post("/v1/memory", {"key": "old", "value": "v", "namespace": "ttl", "ttl_seconds": 60})
    await alice.post("/v1/memory", {"key": "live", "value": "v", "namespace": "ttl", "ttl_seconds": 60})
    await db.execute(  # time travel (a TTL is at least 60 s): the one thing no operation can do
        "UPDATE memory.entries SET expires_at = now() - interval '1 second'"
        " WHERE agent_id = $1 AND key = 'old'",
        alice.agent_id,
    )
    assert (await alice.get("/v1/memory/old", params={"namespace": "ttl"}))[0] == 404
    listing = (await alice.get("/v1/memory", params={"namespace": "ttl"}))[1]
    assert [k["key"] for k in listing["keys"]] == ["live"]
    for _ in range(50):  # the sweeper runs every second; the operator's listing shows expired rows until then
        stored = await memory_op(stack, "admin_memory", {"agent_id": alice.agent_id})
        if [i["key"] for i in stored["items"]] == ["live"]:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("expired row was not swept")
    # Writing the key again after expiry starts a fresh entry.
    assert (await alice.post("/v1/memory", {"key": "old", "value": "new", "namespace": "ttl"}))[0] == 200
    assert (await alice.get("/v1/memory/old", params={"namespace": "ttl"}))[1]["value"] == "new"


async def test_values_are_encrypted_at_rest(alice, db):
    await alice.post("/v1/memory", {"key": "enc", "value": "plaintext-canary-42"})
    await alice.post("/v1/shared-memory", {"namespace": "encns", "key": "k", "value": "shared-canary-42"})
    raw = await db.fetchval(
        "SELECT value FROM memory.entries WHERE agent_id = $1 AND key = 'enc'", alice.agent_id
    )
    assert raw.startswith("ENC:") and "canary" not in raw
    raw = await db.fetchval("SELECT value FROM memory.shared_entries WHERE owner_agent = $1", alice.agent_id)
    assert raw.startswith("ENC:") and "canary" not in raw
    assert (await alice.get("/v1/memory/enc"))[1]["value"] == "plaintext-canary-42"


async def test_plaintext_rows_written_before_encryption_stay_readable(alice, db):
    await db.execute(
        "INSERT INTO memory.entries (agent_id, namespace, key, value, size_bytes)"
        " VALUES ($1, 'default', 'legacy', 'old plaintext', 13)",
        alice.agent_id,
    )
    assert (await alice.get("/v1/memory/legacy"))[1]["value"] == "old plaintext"


# ── shared memory ───────────────────────────────────────────────────────────
async def test_shared_memory_contract_flow(alice, bob):
    ns = f"market_{alice.agent_id}"
    body = {
        "namespace": ns,
        "key": "BTC_price",
        "value": "98500",
        "description": "Latest BTC",
        "ttl_seconds": 3600,
    }
    assert await alice.post("/v1/shared-memory", body) == (
        200,
        {"status": "published", "namespace": ns, "key": "BTC_price"},
    )

    status, spaces = await bob.get("/v1/shared-memory")
    assert status == 200
    mine = [n for n in spaces["namespaces"] if n["namespace"] == ns]
    assert mine == [{"namespace": ns, "entry_count": 1, "contributor_count": 1}]
    assert spaces["count"] == len(spaces["namespaces"])

    status, listing = await bob.get(f"/v1/shared-memory/{ns}", params={"prefix": "BTC"})
    assert status == 200 and listing["namespace"] == ns and listing["count"] == 1
    entry = listing["entries"][0]
    assert entry["owner_agent"] == alice.agent_id and entry["description"] == "Latest BTC"
    assert entry["size_bytes"] == 5 and entry["expires_at"] is not None

    status, read = await bob.get(f"/v1/shared-memory/{ns}/BTC_price")
    assert status == 200
    assert {k: read[k] for k in ("owner_agent", "namespace", "key", "value", "description")} == {
        "owner_agent": alice.agent_id,
        "namespace": ns,
        "key": "BTC_price",
        "value": "98500",
        "description": "Latest BTC",
    }
    assert {"created_at", "updated_at", "expires_at"} <= set(read)
    assert await bob.get(f"/v1/shared-memory/{ns}/nope") == (404, {"detail": "Key not found or expired"})


async def test_shared_memory_ownership(alice, bob):
    ns = f"own_{alice.agent_id}"
    await alice.post("/v1/shared-memory", {"namespace": ns, "key": "k", "value": "alice"})
    # Bob cannot delete Alice's row (he has none of his own).
    assert (await bob.delete(f"/v1/shared-memory/{ns}/k"))[0] == 404
    # Bob "overwriting" creates his own row; Alice's is untouched.
    assert (await bob.post("/v1/shared-memory", {"namespace": ns, "key": "k", "value": "bob"}))[0] == 200
    status, read = await alice.get(f"/v1/shared-memory/{ns}/k", params={"owner_agent": alice.agent_id})
    assert status == 200 and read["value"] == "alice" and read["owner_count"] == 2
    latest = (await alice.get(f"/v1/shared-memory/{ns}/k"))[1]
    assert latest["owner_agent"] == bob.agent_id and latest["value"] == "bob"
    spaces = (await alice.get("/v1/shared-memory"))[1]["namespaces"]
    assert next(n for n in spaces if n["namespace"] == ns)["contributor_count"] == 2
    # Bob's delete removes only his own row.
    assert await bob.delete(f"/v1/shared-memory/{ns}/k") == (
        200,
        {"status": "deleted", "namespace": ns, "key": "k"},
    )
    read = (await bob.get(f"/v1/shared-memory/{ns}/k"))[1]
    assert read["owner_agent"] == alice.agent_id and read["value"] == "alice"
    assert (await alice.delete(f"/v1/shared-memory/{ns}/k"))[0] == 200
    assert (await alice.get(f"/v1/shared-memory/{ns}/k"))[0] == 404


async def test_shared_memory_bad_input(alice):
    status, body = await alice.post("/v1/shared-memory", {"key": "k", "value": "v"})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "namespace"]
    status, body = await alice.post(
        "/v1/shared-memory", {"namespace": "n", "key": "k", "value": "v", "description": "d" * 257}
    )
    assert status == 422
    assert (await alice.get("/v1/shared-memory/bad%20ns"))[0] == 422


async def test_memory_requires_auth(anon):
    assert await anon.get("/v1/memory") == (401, {"detail": "Missing X-API-Key header"})
    assert await anon.get("/v1/shared-memory") == (401, {"detail": "Missing X-API-Key header"})
    bad = anon.__class__(anon.http, anon.base, "af_" + "0" * 32)
    assert await bad.get("/v1/memory") == (401, {"detail": "Invalid API key"})
    worse = anon.__class__(anon.http, anon.base, "not-a-key")
    assert await worse.get("/v1/memory") == (401, {"detail": "Invalid API key"})

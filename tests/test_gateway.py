"""The gateway: registration and auth, rate limit across replicas, errors, request ids, CORS, health,
and behaviour when a service is down or hung."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import nats
import nats.errors
import orjson
import pytest

from shared import subjects


async def test_register_contract(anon):
    status, body = await anon.post("/v1/register", {"name": "alice"})
    assert status == 200
    assert re.fullmatch(r"agent_[0-9a-f]{12}", body["agent_id"])
    assert re.fullmatch(r"af_[0-9a-f]{32}", body["api_key"])
    assert body["message"] == "Store your API key securely. It cannot be recovered."
    status, body = await anon.post("/v1/register", {})
    assert status == 200 and body["agent_id"].startswith("agent_")
    status, body = await anon.post("/v1/register")  # no body at all
    assert status == 200
    status, body = await anon.post("/v1/register", {"name": "n" * 65})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "name"]


async def test_api_key_is_stored_hashed(anon, db):
    _status, body = await anon.post("/v1/register", {"name": "hash-check"})
    row = await db.fetchrow("SELECT * FROM directory.agents WHERE agent_id = $1", body["agent_id"])
    assert body["api_key"] not in str(dict(row))
    import hashlib

    assert row["api_key_hash"] == hashlib.sha256(body["api_key"].encode()).hexdigest()


async def test_profile_and_browse(register, anon):
    agent = await register("profiled")
    status, me = await agent.get("/v1/directory/me")
    assert status == 200
    assert set(me) >= {
        "agent_id",
        "name",
        "description",
        "capabilities",
        "public",
        "available",
        "looking_for",
        "busy_until",
        "reputation",
        "reputation_count",
        "credits",
        "created_at",
    }
    assert (me["agent_id"], me["name"], me["public"], me["available"], me["reputation"]) == (
        agent.agent_id,
        "profiled",
        True,
        True,
        0.0,
    )
    cap = f"cap-{agent.agent_id}"
    assert await agent.put(
        "/v1/directory/me", {"description": "Price tracker", "capabilities": [cap, "trading"], "public": True}
    ) == (200, {"status": "updated", "agent_id": agent.agent_id, "public": True})
    status, found = await anon.get("/v1/directory", params={"capability": cap})
    assert status == 200 and found["count"] == 1
    assert found["agents"][0]["agent_id"] == agent.agent_id
    assert set(found["agents"][0]) >= {
        "agent_id",
        "name",
        "description",
        "capabilities",
        "available",
        "reputation",
        "credits",
        "created_at",
    }
    # PUT without "public" makes the agent private (the contract's default), and hides it from browse.
    assert (await agent.put("/v1/directory/me", {"description": "hidden"}))[1]["public"] is False
    assert (await anon.get("/v1/directory", params={"capability": cap}))[1]["count"] == 0
    status, me = await agent.get("/v1/directory/me")
    assert me["description"] == "hidden" and me["capabilities"] == [cap, "trading"]
    status, _body = await agent.put("/v1/directory/me", {"capabilities": ["c"] * 21})
    assert status == 422


async def test_missing_and_invalid_keys(anon):
    assert await anon.get("/v1/memory") == (401, {"detail": "Missing X-API-Key header"})
    status, body, _ = await anon.request("GET", "/v1/memory", headers={"X-API-Key": "af_deadbeef"})
    assert (status, body) == (401, {"detail": "Invalid API key"})


async def test_request_id_is_echoed_and_generated(anon):
    _, _, headers = await anon.request("GET", "/v1/health", headers={"X-Request-ID": "abc-123"})
    assert headers["X-Request-ID"] == "abc-123"
    _, _, headers = await anon.request("GET", "/v1/health", headers={"X-Request-ID": "bad id\twith junk"})
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])


async def test_unknown_route_and_method(anon, alice):
    assert await anon.get("/v1/nope") == (404, {"detail": "Not Found"})
    status, body, headers = await alice.request("PATCH", "/v1/memory")
    assert status == 405 and body == {"detail": "Method Not Allowed"} and "Allow" in headers


async def test_cors(anon):
    status, _, headers = await anon.request(
        "OPTIONS",
        "/v1/memory",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-API-Key, Content-Type",
        },
    )
    assert status == 204
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "X-API-Key, Content-Type"
    _, _, headers = await anon.request("GET", "/v1/health", headers={"Origin": "https://app.example"})
    assert headers["Access-Control-Allow-Origin"] == "*"


async def test_root_and_health(anon, stack):
    status, root = await anon.get("/")
    assert status == 200 and root["service"] == "MoltGrid" and root["endpoints"]["memory"] == "/v1/memory"
    status, health = await anon.get("/v1/health")
    assert status == 200 and health["status"] == "operational"
    assert health["encryption_enabled"] is True
    assert {
        "registered_agents",
        "public_agents",
        "total_jobs",
        "memory_keys_stored",
        "shared_memory_keys",
        "messages_relayed",
        "active_webhooks",
        "active_schedules",
        "websocket_connections",
    } <= set(health["stats"])
    deadline = time.monotonic() + 5  # stats are cached for 2 s (load balancers poll /v1/health)
    while health["stats"]["registered_agents"] < 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        health = (await anon.get("/v1/health"))[1]
    assert health["stats"]["registered_agents"] >= 1
    assert all(s["status"] == "up" for s in health["services"].values())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", health["timestamp"])


async def test_rate_limit_is_shared_by_two_gateways(register, stack):
    agent = await register("limited")
    first, second = agent.on(stack.url(0)), agent.on(stack.url(1))
    statuses: list[int] = []
    started = time.monotonic()
    while 429 not in statuses and len(statuses) < 400:
        i = len(statuses)
        statuses.append((await (first if i % 2 else second).request("GET", "/v1/memory"))[0])
    elapsed = time.monotonic() - started
    # 120 per rolling minute, counted across both gateway replicas: a burst of 120, then refusals, except that
    # GCRA gives back one request every 0.5 s, so a slow machine sees a few more allowed before the first 429.
    allowed = statuses.count(200)
    assert statuses[:120] == [200] * 120 and statuses[-1] == 429
    assert allowed <= 120 + int(elapsed * 2) + 1, (allowed, elapsed)
    status, body, headers = await first.request("GET", "/v1/memory")
    while status == 200 and time.monotonic() - started < 30:  # a token given back since; use it up
        status, body, headers = await first.request("GET", "/v1/memory")
    assert status == 429 and body == {"detail": "Rate limit exceeded (120/min)"}
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["X-RateLimit-Limit"] == "120" and headers["X-RateLimit-Remaining"] == "0"
    assert int(headers["X-RateLimit-Reset"]) > 0
    # Other agents are unaffected.
    other = await register("unlimited")
    assert (await other.get("/v1/memory"))[0] == 200


async def test_rate_limit_headers_on_every_authenticated_response(alice):
    status, _, headers = await alice.request("GET", "/v1/memory/missing")
    assert status == 404
    assert headers["X-RateLimit-Limit"] == "120"
    assert int(headers["X-RateLimit-Remaining"]) in range(0, 120)


async def test_two_memory_replicas_both_serve(stack, alice):
    assert len(stack.replicas_of("memory")) == 2
    nc = await nats.connect(stack.infra.nats_url)
    try:
        seen = set()
        for _ in range(40):
            msg = await nc.request(subjects.svc("memory", "health"), b"{}", timeout=2)
            seen.add(orjson.loads(msg.data)["data"]["instance"])
        assert len(seen) == 2
    finally:
        await nc.close()
    # And real requests succeed whichever replica takes them.
    results = await asyncio.gather(
        *(alice.post("/v1/memory", {"key": f"r{i}", "value": str(i)}) for i in range(40))
    )
    assert all(s == 200 for s, _ in results)


async def test_revoked_agent_is_dropped_from_the_auth_cache(register, stack, db):
    agent = await register("revoked")
    assert (await agent.get("/v1/memory"))[0] == 200  # now cached in the gateway
    await db.execute("DELETE FROM directory.agents WHERE agent_id = $1", agent.agent_id)
    nc = await nats.connect(stack.infra.nats_url)
    try:
        await nc.publish(subjects.AGENT_DELETED, orjson.dumps({"agent_id": agent.agent_id}))
        await nc.flush()
    finally:
        await nc.close()
    for _ in range(20):
        if (await agent.get("/v1/memory"))[0] == 401:
            break
        await asyncio.sleep(0.05)
    assert await agent.get("/v1/memory") == (401, {"detail": "Invalid API key"})


@pytest.mark.slow
async def test_stopped_service_gives_503_then_recovers(stack, register):
    agent = await register("outage")
    await agent.post("/v1/memory", {"key": "k", "value": "before"})
    stack.stop_component("memory")
    try:
        started = time.monotonic()
        status, body = await agent.get("/v1/memory/k")
        assert (status, body) == (503, {"detail": "Service unavailable"})
        assert time.monotonic() - started < 1.0
        # Other services keep working.
        assert (await agent.get("/v1/directory/me"))[0] == 200
    finally:
        stack.start_component("memory")
    deadline = time.monotonic() + 20
    while (await agent.get("/v1/memory/k"))[0] != 200:
        assert time.monotonic() < deadline, "memory did not recover"
        await asyncio.sleep(0.1)
    assert (await agent.get("/v1/memory/k"))[1]["value"] == "before"


@pytest.mark.slow
async def test_hung_service_gives_504_within_the_timeout(stack, register):
    agent = await register("hung")
    stack.signal("memory", signal.SIGSTOP)
    try:
        started = time.monotonic()
        status, body = await agent.get("/v1/memory/k")
        elapsed = time.monotonic() - started
        assert (status, body) == (504, {"detail": "Upstream service timed out"})
        assert 1.5 <= elapsed < 4.0  # the stack's request timeout is 2 s
    finally:
        stack.signal("memory", signal.SIGCONT)
    deadline = time.monotonic() + 10
    while (await agent.get("/v1/memory"))[0] != 200:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


async def test_idempotency_key_replays_the_first_response(alice, stack):
    headers = {"Idempotency-Key": "set-once-1"}
    s1, b1, h1 = await alice.request(
        "POST", "/v1/memory", json={"key": "idem", "value": "first"}, headers=headers
    )
    assert s1 == 200 and "Idempotent-Replayed" not in h1
    # A retry on the other gateway replica replays the stored response.
    s2, b2, h2 = await alice.on(stack.url(1)).request(
        "POST", "/v1/memory", json={"key": "idem", "value": "first"}, headers=headers
    )
    assert (s2, b2) == (s1, b1) and h2["Idempotent-Replayed"] == "true"
    # Same key, different body → 422.
    s3, b3, _ = await alice.request(
        "POST", "/v1/memory", json={"key": "idem", "value": "other"}, headers=headers
    )
    assert s3 == 422 and "different request" in b3["detail"]
    assert (await alice.get("/v1/memory/idem"))[1]["value"] == "first"


async def test_idempotency_is_per_agent_and_errors_are_replayed_too(alice, bob):
    headers = {"Idempotency-Key": "shared-key"}
    assert (await alice.request("POST", "/v1/memory", json={"key": "a", "value": "1"}, headers=headers))[
        0
    ] == 200
    assert (await bob.request("POST", "/v1/memory", json={"key": "b", "value": "2"}, headers=headers))[
        0
    ] == 200
    assert (await bob.get("/v1/memory/b"))[0] == 200
    bad = {"key": "c"}
    first = await alice.request("POST", "/v1/memory", json=bad, headers={"Idempotency-Key": "bad-1"})
    again = await alice.request("POST", "/v1/memory", json=bad, headers={"Idempotency-Key": "bad-1"})
    assert first[0] == again[0] == 422 and first[1] == again[1]


async def test_concurrent_retries_run_the_operation_once(register, db):
    agent = await register("idem-race")
    headers = {"Idempotency-Key": "race"}
    results = await asyncio.gather(
        *(
            agent.request(
                "POST",
                "/v1/shared-memory",
                json={"namespace": f"idem_{agent.agent_id}", "key": "k", "value": "v"},
                headers=headers,
            )
            for _ in range(10)
        )
    )
    statuses = sorted(r[0] for r in results)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}
    assert (
        await db.fetchval("SELECT count(*) FROM gateway.idempotency_keys WHERE agent_id = $1", agent.agent_id)
        == 1
    )


async def test_prometheus_metrics_cover_gateway_and_every_service_replica(anon, alice, stack):
    from prometheus_client.parser import text_string_to_metric_families

    await alice.get("/v1/memory/missing")
    await asyncio.sleep(2.1)  # /metrics is a scrape reused for 2 s: the next one is made after that request
    for attempt in range(10):  # a replica busy with a backlog may miss one scrape window
        if attempt:
            await asyncio.sleep(1.0)
        status, body, headers = await anon.request("GET", "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        text = body.decode() if isinstance(body, bytes) else str(body)
        families = {f.name: f for f in text_string_to_metric_families(text)}  # parses: the merge is valid
        if (
            len(
                {
                    s.labels["instance"]
                    for s in families["moltgrid_operations"].samples
                    if s.labels["service"] == "memory"
                }
            )
            == 2
        ):
            break
    http = families["moltgrid_http_requests"].samples
    assert any(s.labels["route"] == "/v1/memory/{key}" and s.labels["status"] == "404" for s in http)
    ops = families["moltgrid_operations"].samples
    memory_instances = {s.labels["instance"] for s in ops if s.labels["service"] == "memory"}
    assert memory_instances == {"memory-0", "memory-1"}
    assert any(s.labels["op"] == "get" and s.labels["outcome"] == "not_found" for s in ops)
    assert "moltgrid_operation_seconds" in families and "moltgrid_http_request_seconds" in families


async def test_request_counts_of_every_gateway_reach_the_directory(register, stack):
    """Both gateways report their counts to the directory, which answers /v1/stats from them (it never asks a
    gateway: no `svc.gateway.*` operation exists)."""
    agent = await register("counted")
    for i in range(7):
        await agent.on(stack.url(i % 2)).get("/v1/memory")
    deadline = time.monotonic() + 10
    while True:
        total = (await agent.get("/v1/stats"))[1]["total_requests"]
        if total >= 7 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    assert total >= 7  # the polls themselves count too
    nc = await nats.connect(stack.infra.nats_url)
    try:
        with pytest.raises(nats.errors.NoRespondersError):
            await nc.request(subjects.svc("gateway", "agent_stats"), b"{}", timeout=2)
    finally:
        await nc.close()


async def test_rate_limit_is_exact_under_concurrent_bursts_on_both_gateways(register, stack):
    agent = await register("burst")
    calls = [agent.on(stack.url(i % 2)).request("GET", "/v1/memory") for i in range(160)]
    started = time.monotonic()
    statuses = [r[0] for r in await asyncio.gather(*calls)]
    elapsed = time.monotonic() - started
    # the burst of 120 and not one more, except the one request GCRA gives back every 0.5 s the burst lasts
    allowed = statuses.count(200)
    assert 120 <= allowed <= 120 + int(elapsed * 2), (allowed, elapsed)
    assert statuses.count(429) == 160 - allowed

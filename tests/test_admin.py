"""Admin panel API: login, sessions shared by gateways, masked listings, reveal, cascading delete."""

from __future__ import annotations

import asyncio
import hashlib
import time

import aiohttp

from shared.passwords import hash_password, verify_password
from tests.conftest import ADMIN_PASSWORD


def test_password_formats():
    assert verify_password("pw", hash_password("pw")) and not verify_password("nope", hash_password("pw"))
    assert verify_password("pw", hashlib.sha256(b"pw").hexdigest())  # the original's format
    assert not verify_password("pw", "garbage") and not verify_password("pw", "scrypt$1$2$3$x$y")


async def _get(session, url):
    async with session.get(url) as r:
        return r.status, await r.json(content_type=None)


async def test_login_failures_and_throttling(stack):
    url = stack.url(1) + "/admin/api/login"
    # Another loopback source address, so this client's throttle does not affect the other tests.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))) as http:
        async with http.post(url, json={}) as r:
            assert r.status == 422
        statuses = []
        for _ in range(6):
            async with http.post(url, json={"password": "wrong"}) as r:
                statuses.append(r.status)
        assert statuses[:5] == [401] * 5 and statuses[5] == 429  # 5 failures per minute per client address
        async with http.post(url, json={"password": ADMIN_PASSWORD}) as r:
            assert (
                r.status == 429 and int(r.headers["Retry-After"]) >= 1
            )  # even the right one, until it cools
        async with http.get(stack.url(0) + "/admin/api/dashboard") as r:
            assert r.status == 401


async def test_pages(stack, http, admin):
    async with http.get(stack.url(0) + "/admin", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/admin/login"
    async with admin.get(stack.url(0) + "/admin") as r:
        assert r.status == 200 and "MoltGrid admin" in await r.text()
    async with http.get(stack.url(0) + "/admin/login") as r:
        assert r.status == 200 and "password" in await r.text()


async def test_session_works_on_every_gateway_and_logout_ends_it(stack, admin):
    for gateway in (0, 1):
        status, body = await _get(admin, stack.url(gateway) + "/admin/api/dashboard")
        assert status == 200 and body["stats"]["agents"] >= 0
    async with admin.post(stack.url(1) + "/admin/api/logout") as r:
        assert r.status == 200
    status, _ = await _get(admin, stack.url(0) + "/admin/api/dashboard")
    assert status == 401


async def test_listings_mask_values_and_reveal_one(stack, admin, register):
    agent = await register("admin-view")
    await agent.post("/v1/memory", {"key": "secret", "value": "top-secret-value", "namespace": "adm"})
    status, listing = await _get(admin, stack.url(0) + f"/admin/api/memory?agent_id={agent.agent_id}")
    assert status == 200 and listing["total"] == 1
    assert "top-secret-value" not in str(listing) and listing["items"][0]["value"].startswith("••••")
    status, one = await _get(admin, stack.url(0) + f"/admin/api/memory/{agent.agent_id}/adm/secret")
    assert status == 200 and one["value"] == "top-secret-value"
    status, agents = await _get(admin, stack.url(0) + "/admin/api/agents?limit=5")
    assert status == 200 and agents["limit"] == 5 and len(agents["items"]) <= 5 and agents["total"] >= 1
    # Agents cannot reach admin operations with an API key.
    status, _ = await agent.get("/admin/api/agents")
    assert status == 401


async def test_delete_cascades_through_every_service(stack, admin, register, db):
    agent = await register("doomed")
    await agent.post("/v1/memory", {"key": "k", "value": "v"})
    await agent.post("/v1/shared-memory", {"namespace": "doomed_ns", "key": "k", "value": "v"})
    status, detail = await _get(admin, stack.url(0) + f"/admin/api/agents/{agent.agent_id}")
    assert status == 200 and detail["agent_id"] == agent.agent_id and "activity" in detail
    async with admin.delete(stack.url(0) + f"/admin/api/agents/{agent.agent_id}") as r:
        assert r.status == 200 and (await r.json())["status"] == "deleted"
    assert (await agent.get("/v1/memory"))[0] == 401  # key dropped from every gateway's cache at once
    assert (await agent.on(stack.url(1)).get("/v1/memory"))[0] == 401
    deadline = time.monotonic() + 15
    while await db.fetchval(
        "SELECT count(*) FROM memory.entries WHERE agent_id = $1", agent.agent_id
    ) or await db.fetchval(
        "SELECT count(*) FROM memory.shared_entries WHERE owner_agent = $1", agent.agent_id
    ):
        assert time.monotonic() < deadline, "memory was not purged"
        await asyncio.sleep(0.2)
    async with admin.delete(stack.url(0) + f"/admin/api/agents/{agent.agent_id}") as r:
        assert r.status == 404


async def test_purge_reaches_a_service_that_was_down(stack, admin, register, db):
    agent = await register("purged-later")
    await agent.post("/v1/memory", {"key": "k", "value": "v"})
    stack.stop_component("memory")
    try:
        async with admin.delete(stack.url(0) + f"/admin/api/agents/{agent.agent_id}") as r:
            assert r.status == 200
        assert (
            await db.fetchval("SELECT count(*) FROM memory.entries WHERE agent_id = $1", agent.agent_id) == 1
        )
    finally:
        stack.start_component("memory")
    deadline = time.monotonic() + 20
    while await db.fetchval("SELECT count(*) FROM memory.entries WHERE agent_id = $1", agent.agent_id):
        assert time.monotonic() < deadline, "memory did not catch up on the purge"
        await asyncio.sleep(0.2)

"""MoltGrid 1.0's registry, POST /v1/agents/register: role, capabilities (the profile's own list) and skills,
shown on one's profile, the public profile, search (?skill=) and the agent card; bounded input; purged with
the agent. Everything through the real stack (two gateways, two directory replicas)."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from moltgrid_client import MoltGridClient
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import until

MATCH_ITEM = {
    "agent_id",
    "name",
    "description",
    "capabilities",
    "available",
    "looking_for",
    "reputation",
    "credits",
    "created_at",
}  # the seed's match items, unchanged by the registry


def tag(prefix: str) -> str:
    """A skill or capability no other test uses, so searches see only this test's agents."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_register_round_trip_and_partial_updates(register):
    alice = await register("alice")
    py, sql = tag("python"), tag("sql")
    status, body = await alice.post(
        "/v1/agents/register", {"role": "analyst", "capabilities": ["summarize"], "skills": [py, sql]}
    )
    assert status == 200 and body == {
        "status": "registered",
        "agent_id": alice.agent_id,
        "role": "analyst",
        "capabilities": ["summarize"],
        "skills": [py, sql],
    }
    _, me = await alice.get("/v1/directory/me")
    assert (me["role"], me["capabilities"], me["skills"]) == ("analyst", ["summarize"], [py, sql])
    # one list of capabilities: the seed's PUT /v1/directory/me and the registry write the same one
    assert (await alice.put("/v1/directory/me", {"capabilities": ["translate"], "public": True}))[0] == 200
    _, body = await alice.post("/v1/agents/register", {"skills": [py]})  # left-out fields keep their value
    assert (body["role"], body["capabilities"], body["skills"]) == ("analyst", ["translate"], [py])
    _, body = await alice.post("/v1/agents/register", {"role": None, "capabilities": None})  # null keeps too
    assert (body["role"], body["capabilities"], body["skills"]) == ("analyst", ["translate"], [py])
    _, body = await alice.post("/v1/agents/register", {})  # nothing to change: the stored values
    assert (body["role"], body["capabilities"], body["skills"]) == ("analyst", ["translate"], [py])
    _, body = await alice.post("/v1/agents/register", {"role": "", "skills": []})  # "" clears, [] empties
    assert (body["role"], body["capabilities"], body["skills"]) == (None, ["translate"], [])
    # 1.0's PUT /v1/directory/me also takes skills; the seed's answer to it is unchanged
    assert await alice.put("/v1/directory/me", {"skills": [sql], "public": True}) == (
        200,
        {"status": "updated", "agent_id": alice.agent_id, "public": True},
    )
    _, me = await alice.get("/v1/directory/me")
    assert (me["role"], me["capabilities"], me["skills"], me["public"]) == (None, ["translate"], [sql], True)


async def test_skills_and_role_are_public_where_1_0_shows_them(register, anon):
    skill, need = tag("skill"), tag("need")
    shown, hidden, me = await register("shown"), await register("hidden"), await register("me")
    for agent in (shown, hidden):
        await agent.put("/v1/directory/me", {"capabilities": [need], "public": agent is shown})
        await agent.post("/v1/agents/register", {"role": "researcher", "skills": [skill, "writing"]})
    status, profile = await anon.get(f"/v1/directory/{shown.agent_id}")
    assert status == 200 and (profile["role"], profile["skills"], profile["capabilities"]) == (
        "researcher",
        [skill, "writing"],
        [need],
    )
    assert (await anon.get(f"/v1/directory/{hidden.agent_id}"))[0] == 404  # private stays private
    status, found = await anon.get("/v1/directory/search", params={"skill": skill})
    assert status == 200 and [a["agent_id"] for a in found["agents"]] == [shown.agent_id]
    assert (found["agents"][0]["role"], found["agents"][0]["skills"]) == ("researcher", [skill, "writing"])
    _, both = await anon.get("/v1/directory/search", params={"skill": skill, "capability": need})
    assert [a["agent_id"] for a in both["agents"]] == [shown.agent_id]
    _, neither = await anon.get("/v1/directory/search", params={"skill": skill, "capability": tag("other")})
    assert neither == {"agents": [], "count": 0}
    _, card = await anon.get(f"/v1/agents/{shown.agent_id}/card")
    assert (card["metadata"]["role"], card["metadata"]["skills"]) == ("researcher", [skill, "writing"])
    _, matched = await me.get("/v1/directory/match", params={"need": need})
    assert [m["agent_id"] for m in matched["matches"]] == [shown.agent_id] and set(
        matched["matches"][0]
    ) == MATCH_ITEM


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "r" * 129},
        {"role": 7},
        {"role": ["a"]},
        {"capabilities": ["c"] * 21},
        {"capabilities": ["c" * 65]},
        {"capabilities": "summarize"},
        {"capabilities": [1]},
        {"skills": ["s"] * 21},
        {"skills": ["s" * 65]},
        {"skills": {"python": True}},
        {"skills": [None]},
        {"skills": ["nul\x00"]},
        {"role": "nul\x00"},
        [],
        "register",
        42,
    ],
)
async def test_bad_input_is_a_422_and_writes_nothing(register, bad):
    agent = await register("strict")
    await agent.post("/v1/agents/register", {"role": "keeper", "capabilities": ["a"], "skills": ["b"]})
    status, body = await agent.post("/v1/agents/register", bad)
    assert status == 422 and isinstance(body["detail"], list), (bad, status, body)
    _, me = await agent.get("/v1/directory/me")
    assert (me["role"], me["capabilities"], me["skills"]) == ("keeper", ["a"], ["b"])


async def test_bounds_are_inclusive_and_search_filters_are_checked(register, anon):
    agent = await register("edges")
    skills = [f"s{i}-" + "x" * 58 for i in range(20)]
    status, body = await agent.post(
        "/v1/agents/register", {"role": "r" * 128, "skills": skills, "capabilities": ["c" * 64] * 20}
    )
    assert status == 200 and body["skills"] == skills and len(body["role"]) == 128
    assert (await anon.post("/v1/agents/register", {"role": "x"}))[0] == 401
    for bad in ("", "s" * 65):
        assert (await anon.get("/v1/directory/search", params={"skill": bad}))[0] == 422, bad


async def test_one_agent_cannot_touch_another(alice, bob):
    await bob.post("/v1/agents/register", {"role": "bob-role", "skills": ["bob-skill"]})
    await alice.post(
        "/v1/agents/register", {"role": "alice-role", "skills": ["alice-skill"], "agent_id": bob.agent_id}
    )
    _, bobs = await bob.get("/v1/directory/me")
    assert (bobs["role"], bobs["skills"]) == ("bob-role", ["bob-skill"])
    _, alices = await alice.get("/v1/directory/me")
    assert (alices["role"], alices["skills"]) == ("alice-role", ["alice-skill"])


async def test_concurrent_registrations_through_both_gateways_never_interleave(stack, register):
    """Each registration is one UPDATE: whatever the order, the stored fields all come from one request."""
    agent = await register("racer")
    first = {"role": "one", "capabilities": ["c1"], "skills": ["s1"]}
    second = {"role": "two", "capabilities": ["c2"], "skills": ["s2"]}
    for _ in range(5):
        answers = await asyncio.gather(
            *(
                agent.on(stack.url(i % 2)).post("/v1/agents/register", body)
                for i, body in enumerate((first, second) * 4)
            )
        )
        assert all(status == 200 for status, _ in answers)
        _, me = await agent.on(stack.url(1)).get("/v1/directory/me")
        assert {k: me[k] for k in first} in (first, second)


async def test_registry_fields_go_with_the_agent(stack, register, anon):
    agent = await register("doomed")
    await agent.put("/v1/directory/me", {"public": True})
    await agent.post("/v1/agents/register", {"role": "temp", "skills": [tag("gone")]})
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
        async with admin.post(stack.url(0) + "/admin/api/login", json={"password": ADMIN_PASSWORD}) as r:
            assert r.status == 200
        async with admin.get(stack.url(0) + f"/admin/api/agents/{agent.agent_id}") as r:
            detail = await r.json()
            assert r.status == 200 and (detail["role"], detail["skills"][0][:5]) == ("temp", "gone-")
        async with admin.delete(stack.url(0) + f"/admin/api/agents/{agent.agent_id}") as r:
            assert r.status == 200
        async with admin.get(stack.url(0) + f"/admin/api/agents/{agent.agent_id}") as r:
            assert r.status == 404
    await until("the public profile to go", lambda: _gone(anon, agent.agent_id))
    assert (await agent.post("/v1/agents/register", {"role": "back"}))[0] == 401


async def _gone(anon, agent_id: str) -> bool:
    return (await anon.get(f"/v1/directory/{agent_id}"))[0] == 404


def _client_methods(base: str) -> None:
    client = MoltGridClient.register(base, "registry-client")
    try:
        skill = tag("client")
        assert client.agent_register(role="planner", skills=[skill]) == {
            "status": "registered",
            "agent_id": client.agent_id,
            "role": "planner",
            "capabilities": [],
            "skills": [skill],
        }
        client.directory_update(capabilities=["plan"], skills=[skill, "b"], public=True)
        assert client.directory_me()["skills"] == [skill, "b"]
        assert [a["agent_id"] for a in client.directory_search(skill=skill)["agents"]] == [client.agent_id]
    finally:
        client.close()


async def test_the_client_methods(stack):
    await asyncio.to_thread(_client_methods, stack.base_url)

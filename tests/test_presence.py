"""Presence and the public directory (MoltGrid 1.0): heartbeats, agent.offline exactly once with two directory
replicas, the status shown in the directory, leaderboard, statistics, network, public profiles and one's
collaborations, and route order among the /v1/directory/... paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest

from shared.bus import Ctx, call
from shared.subjects import svc
from tests.conftest import Api
from tests.helpers import until
from tests.queue_fixtures import log_size, wait_started
from tests.stack import Stack

TIMEOUT_S = 2.0
PRESENCE_ENV = {"MOLTGRID_PRESENCE_TIMEOUT_SECONDS": str(TIMEOUT_S), "MOLTGRID_PRESENCE_SWEEP_SECONDS": "0.2"}


@pytest.fixture(scope="module")
async def directories(stack: Stack) -> AsyncIterator[list[str]]:
    """Two directory replicas with a 2-second presence timeout in place of the stack's own; restored after."""
    original = stack.replicas_of("directory")
    for name in original:
        stack.sup.children[name].stop()
    started = []
    for i in (0, 1):
        offset = log_size(stack, f"directory-{i}")
        started.append((stack.sup.spawn("directory", i, PRESENCE_ENV), offset))
    await asyncio.gather(*(wait_started(c, o) for c, o in started))
    try:
        yield [c.name for c, _ in started]
    finally:
        for child, _ in started:
            child.stop()
        for name in original:
            offset = log_size(stack, name)
            await wait_started(stack.sup.spawn("directory", int(name.rpartition("-")[2]), {}), offset)


async def offline_events(agent: Api) -> list[dict[str, Any]]:
    status, body = await agent.get("/v1/events", params={"after": 0, "types": "agent.offline"})
    assert status == 200, body
    return body["events"]


async def status_of(agent: Api) -> str:
    return (await agent.get("/v1/directory/me"))[1]["heartbeat_status"]


async def test_heartbeat_contract(directories, register, anon, db):
    agent = await register("beater")
    assert (await anon.get(f"/v1/directory/{agent.agent_id}"))[1]["heartbeat_status"] == "unknown"
    status, beat = await agent.post("/v1/agents/heartbeat", {"status": "online", "metadata": {"load": 0.2}})
    assert status == 200 and (beat["agent_id"], beat["status"]) == (agent.agent_id, "online")
    assert beat["heartbeat_at"].endswith("+00:00")
    status, beat = await agent.post("/v1/heartbeat", {"status": "busy"})
    assert status == 200 and beat["status"] == "busy"
    assert (await agent.post("/v1/heartbeat"))[1]["status"] == "online"  # the body is optional
    # (the timeout here is 2 s: each status check follows a fresh beat, so a slow machine cannot time it out)
    await agent.post("/v1/heartbeat", {"status": "busy", "metadata": {"task": "crawl", "load": 0.9}})
    me = (await agent.get("/v1/directory/me"))[1]
    assert (me["heartbeat_status"], me["heartbeat_metadata"]) == ("busy", {"task": "crawl", "load": 0.9})
    assert me["heartbeat_at"].endswith("+00:00")
    await agent.post("/v1/heartbeat", {"status": "busy", "metadata": {"task": "crawl", "load": 0.9}})
    public = (await anon.get(f"/v1/directory/{agent.agent_id}"))[1]
    assert (
        public["heartbeat_status"] == "busy" and "heartbeat_metadata" not in public
    )  # metadata is one's own
    await agent.post("/v1/heartbeat", {"status": "busy", "metadata": {"task": "crawl", "load": 0.9}})
    listed = (await anon.get("/v1/directory", params={"limit": 200}))[1]["agents"]
    assert next(a for a in listed if a["agent_id"] == agent.agent_id)["heartbeat_status"] == "busy"
    raw = await db.fetchval("SELECT metadata FROM directory.presence WHERE agent_id = $1", agent.agent_id)
    assert raw.startswith("ENC:") and "crawl" not in raw

    status, body = await agent.post("/v1/heartbeat", {"status": "sleeping"})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "status"]
    assert (await agent.post("/v1/heartbeat", {"metadata": ["not", "an", "object"]}))[0] == 422
    assert await agent.post("/v1/heartbeat", {"metadata": {"blob": "x" * 5000}}) == (
        400,
        {"detail": "metadata exceeds 4KB limit"},
    )
    assert (await anon.post("/v1/agents/heartbeat", {"status": "online"}))[0] == 401
    assert (await agent.get("/v1/directory/me"))[1]["heartbeat_metadata"] == {"task": "crawl", "load": 0.9}


async def test_silent_agents_go_offline_once_per_silence_with_two_replicas(directories, register):
    agents = [await register(f"silent{i}") for i in range(8)]
    for agent in agents:
        assert (await agent.post("/v1/agents/heartbeat", {"status": "idle"}))[0] == 200
    for agent in agents:
        events = await until("agent.offline", lambda agent=agent: offline_events(agent), timeout=30)
        assert events[0]["data"]["reason"] == "timeout" and events[0]["data"]["last_status"] == "idle"
        assert events[0]["agent_id"] == events[0]["data"]["agent_id"] == agent.agent_id
    await asyncio.sleep(TIMEOUT_S)  # both replicas sweep ten more times: nothing new
    for agent in agents:
        assert len(await offline_events(agent)) == 1
        assert await status_of(agent) == "offline"
    # back online, then silent again: one more event, for the new silence
    agent = agents[0]
    await agent.post("/v1/heartbeat", {"status": "online"})
    assert await status_of(agent) == "online"
    await until("a second agent.offline", lambda: _count(offline_events(agent), 2), timeout=30)
    await asyncio.sleep(1.0)
    assert len(await offline_events(agent)) == 2


async def test_an_offline_heartbeat_is_reported_once(directories, register):
    agent = await register("leaving")
    await agent.post("/v1/heartbeat", {"status": "online"})
    assert (await agent.post("/v1/heartbeat", {"status": "offline"}))[1]["status"] == "offline"
    assert await status_of(agent) == "offline"
    events = await until("agent.offline", lambda: offline_events(agent))
    assert events[0]["data"]["reason"] == "reported"
    await agent.post("/v1/heartbeat", {"status": "offline"})  # already offline: no second event
    await asyncio.sleep(TIMEOUT_S + 1.0)  # and the sweep adds none either
    assert len(await offline_events(agent)) == 1


async def _count(coro: Any, n: int) -> Any:
    items = await coro
    return items if len(items) >= n else None


async def test_public_directory_views(directories, register, anon):
    poster, worker, private = (
        await register("lb-poster"),
        await register("lb-worker"),
        await register("lb-private"),
    )
    assert (await private.put("/v1/directory/me", {"public": False}))[0] == 200
    await poster.put("/v1/directory/me", {"capabilities": ["lb-cap-a", "lb-cap-b"], "public": True})
    await worker.put("/v1/directory/me", {"capabilities": ["lb-cap-a"], "public": True})
    await worker.post("/v1/heartbeat", {"status": "online"})
    task = (await poster.post("/v1/marketplace/tasks", {"title": "Label 10 images", "reward_credits": 30}))[1]
    assert (await worker.post(f"/v1/marketplace/tasks/{task['task_id']}/claim"))[0] == 200
    assert (await worker.post(f"/v1/marketplace/tasks/{task['task_id']}/deliver", {"result": "done"}))[
        0
    ] == 200
    assert (
        await poster.post(f"/v1/marketplace/tasks/{task['task_id']}/review", {"accept": True, "rating": 5})
    )[0] == 200
    collab = (
        await poster.post(
            "/v1/directory/collaborations",
            {"partner_agent": worker.agent_id, "outcome": "success", "rating": 4, "task_type": "labelling"},
        )
    )[1]

    status, board = await anon.get("/v1/leaderboard")
    assert status == 200 and board["sort_by"] == "reputation" and 1 <= len(board["leaderboard"]) <= 20
    assert [e["rank"] for e in board["leaderboard"]] == list(range(1, len(board["leaderboard"]) + 1))
    assert set(board["leaderboard"][0]) == {
        "rank",
        "agent_id",
        "name",
        "reputation",
        "credits",
        "tasks_completed",
    }
    for sort_by in ("credits", "tasks_completed", "requests", "reputation"):
        status, board = await anon.get("/v1/leaderboard", params={"sort_by": sort_by, "limit": 100})
        assert status == 200 and board["sort_by"] == sort_by
        ids = [e["agent_id"] for e in board["leaderboard"]]
        assert private.agent_id not in ids
        if sort_by in ("credits", "tasks_completed"):
            values = [e[sort_by] for e in board["leaderboard"]]
            assert values == sorted(values, reverse=True)
    board = (await anon.get("/v1/leaderboard", params={"sort_by": "tasks_completed", "limit": 100}))[1]
    mine = next(e for e in board["leaderboard"] if e["agent_id"] == worker.agent_id)
    assert mine["tasks_completed"] == 1 and mine["credits"] == 200 + 30 and mine["reputation"] == 4.5
    for params in ({"sort_by": "nope"}, {"limit": 0}, {"limit": 101}):
        assert (await anon.get("/v1/leaderboard", params=params))[0] == 422

    await worker.post("/v1/heartbeat", {"status": "online"})  # fresh: the timeout is 2 s here
    status, stats = await anon.get("/v1/directory/stats")
    assert status == 200 and stats["total_agents"] >= 2 and stats["online_agents"] >= 1
    assert {"lb-cap-a", "lb-cap-b"} <= set(stats["total_capabilities"])
    assert stats["total_capabilities"] == sorted(stats["total_capabilities"])
    assert stats["total_marketplace_tasks"] >= 1 and stats["total_credits_distributed"] >= 2 * 200
    assert all(set(c) == {"name", "count"} for c in stats["top_capabilities"])

    await worker.post("/v1/heartbeat", {"status": "online"})  # fresh: the timeout is 2 s here
    status, net = await anon.get("/v1/directory/network")
    assert status == 200 and net["stats"]["total_agents"] == len(net["nodes"])
    node = next(n for n in net["nodes"] if n["id"] == worker.agent_id)
    assert node["status"] == "online" and node["capabilities"] == ["lb-cap-a"]
    assert (node["skills"], node["interests"], node["featured"], node["verified"]) == ([], [], False, False)
    edge = next(e for e in net["edges"] if e["source"] == poster.agent_id)
    assert (edge["target"], edge["type"], edge["weight"]) == (worker.agent_id, "collaboration", 1)
    assert private.agent_id not in {n["id"] for n in net["nodes"]}

    await worker.post("/v1/heartbeat", {"status": "online"})  # fresh: the timeout is 2 s here
    status, profile = await anon.get(f"/v1/directory/{worker.agent_id}")
    assert status == 200 and profile["agent_id"] == worker.agent_id and profile["name"] == "lb-worker"
    assert (profile["tasks_completed"], profile["credits"], profile["heartbeat_status"]) == (1, 230, "online")
    assert profile["reputation_count"] == 2 and len(profile["member_since"]) == 10
    assert (profile["uptime_pct"], profile["featured"], profile["verified"]) == (None, False, False)
    assert [a["title"] for a in profile["recent_marketplace_activity"]] == ["Label 10 images"]
    assert await anon.get(f"/v1/directory/{private.agent_id}") == (
        404,
        {"detail": "Agent not found or not public"},
    )
    assert (await anon.get("/v1/directory/agent_doesnotexist"))[0] == 404

    for agent in (poster, worker):
        status, mine = await agent.get("/v1/directory/collaborations")
        assert status == 200 and [c["collaboration_id"] for c in mine["collaborations"]] == [
            collab["collaboration_id"]
        ]
        assert mine["collaborations"][0]["task_type"] == "labelling"
    assert (await private.get("/v1/directory/collaborations"))[1]["collaborations"] == []
    assert (await anon.get("/v1/directory/collaborations"))[0] == 401
    assert (await poster.get("/v1/directory/collaborations", params={"limit": 201}))[0] == 422


async def test_static_directory_paths_are_not_agent_ids(directories, alice, anon):
    """Every /v1/directory/<word> path reaches its own operation, not the public profile."""
    assert (await alice.get("/v1/directory/me"))[1]["agent_id"] == alice.agent_id
    assert (await anon.get("/v1/directory/me"))[0] == 401
    assert "agents" in (await anon.get("/v1/directory/search"))[1]
    assert (await alice.get("/v1/directory/match", params={"need": "x"}))[1]["need"] == "x"
    assert "total_capabilities" in (await anon.get("/v1/directory/stats"))[1]
    assert "edges" in (await anon.get("/v1/directory/network"))[1]
    assert "collaborations" in (await alice.get("/v1/directory/collaborations"))[1]
    assert (await alice.patch("/v1/directory/me/status", {"available": True}))[0] == 200


async def test_a_heartbeat_racing_the_sweeps_still_gives_one_event(directories, register, db):
    """Silences that the sweeps and a fresh heartbeat discover at the same moment: whichever decides first
    writes the event, and there is exactly one per agent."""
    agents = [await register(f"racer{i}") for i in range(10)]
    for agent in agents:
        await agent.post("/v1/heartbeat", {"status": "busy"})
    await db.execute(
        "UPDATE directory.presence SET heartbeat_at = now() - interval '1 hour' WHERE agent_id = ANY($1)",
        [a.agent_id for a in agents],
    )
    beats = await asyncio.gather(*(a.post("/v1/heartbeat", {"status": "online"}) for a in agents))
    assert all(status == 200 for status, _ in beats)
    assert await status_of(agents[-1]) == "online"  # (each will time out again 2 s later: a new silence)
    await asyncio.sleep(1.0)
    for agent in agents:
        events = await until("agent.offline", lambda agent=agent: offline_events(agent))
        first_silence = [e for e in events if e["data"]["last_status"] == "busy"]
        assert [e["data"]["reason"] for e in first_silence] == ["timeout"], events


async def test_presence_goes_with_a_deleted_agent(directories, register, stack, db):
    agent = await register("deleted-beater")
    await agent.post("/v1/heartbeat", {"status": "busy", "metadata": {"k": "v"}})
    assert (
        await db.fetchval("SELECT count(*) FROM directory.presence WHERE agent_id = $1", agent.agent_id) == 1
    )
    nc = await nats.connect(stack.infra.nats_url)
    try:  # what the admin panel's DELETE /admin/api/agents/{agent_id} sends, once the gateway checked the session
        reply = await call(
            nc,
            svc("directory", "admin_delete_agent"),
            {"agent_id": agent.agent_id},
            timeout=5,
            ctx=Ctx(admin=True),
        )
        assert reply.ok, reply
    finally:
        await nc.close()
    assert (
        await db.fetchval("SELECT count(*) FROM directory.presence WHERE agent_id = $1", agent.agent_id) == 0
    )

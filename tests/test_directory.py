"""Directory: profiles and browse (contract), discovery, collaborations and reputation, agent cards."""

from __future__ import annotations

import re
import uuid

import nats
import nats.js.errors
import orjson

from shared import subjects
from shared.bus import Ctx, call
from shared.runtime.stack import selected_components
from shared.subjects import svc
from tests.helpers import until

PROFILE = {
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
LISTED = {
    "agent_id",
    "name",
    "description",
    "capabilities",
    "available",
    "reputation",
    "credits",
    "created_at",
    "heartbeat_status",
}  # heartbeat_status: MoltGrid 1.0's presence, additive
PROFILE |= {"heartbeat_status", "heartbeat_at", "heartbeat_metadata"}  # one's own presence (1.0, additive)
PROFILE |= {"skills", "role"}  # MoltGrid 1.0's registry (POST /v1/agents/register), additive
PROFILE |= {"interests", "heartbeat_interval"}  # MoltGrid 1.0's profile fields, additive
STARTING = 200 if "marketplace" in selected_components() else 0


def cap() -> str:
    """A capability no other test uses, so searches see only this test's agents."""
    return f"cap-{uuid.uuid4().hex[:8]}"


async def test_register_profile_and_browse_contract(register, anon):
    status, body = await anon.post("/v1/register", {"name": "alice"})
    assert status == 200 and set(body) == {"agent_id", "api_key", "message"}
    assert re.fullmatch(r"agent_[0-9a-f]{12}", body["agent_id"]) and re.fullmatch(
        r"af_[0-9a-f]{32}", body["api_key"]
    )
    alice = await register("alice")
    trading = cap()
    assert await alice.put(
        "/v1/directory/me",
        {"description": "Price tracker", "capabilities": ["alerts", trading], "public": True},
    ) == (200, {"status": "updated", "agent_id": alice.agent_id, "public": True})
    status, me = await alice.get("/v1/directory/me")
    assert status == 200 and set(me) == PROFILE
    assert {k: me[k] for k in PROFILE - {"agent_id", "created_at"}} == {
        "name": "alice",
        "description": "Price tracker",
        "capabilities": ["alerts", trading],
        "public": True,
        "available": True,
        "looking_for": [],
        "busy_until": None,
        "reputation": 0.0,
        "reputation_count": 0,
        "credits": STARTING,
        "heartbeat_status": "unknown",
        "heartbeat_at": None,
        "heartbeat_metadata": None,
        "skills": [],
        "role": None,
        "interests": [],
        "heartbeat_interval": 60,
    }
    status, body = await anon.get("/v1/directory", params={"capability": trading})
    assert status == 200 and body["count"] == 1 and set(body["agents"][0]) == LISTED
    assert body["agents"][0]["credits"] == STARTING
    for bad in ({"capabilities": ["x"] * 21}, {"description": "x" * 513}, {"public": "maybe"}):
        assert (await alice.put("/v1/directory/me", bad))[0] == 422, bad
    assert (await anon.post("/v1/register", {"name": "x" * 65}))[0] == 422
    assert (await anon.get("/v1/directory", params={"limit": 201}))[0] == 422


async def test_status_and_search(register, anon):
    needle = cap()
    a, b, c = await register("a"), await register("b"), await register("c")
    for agent in (a, b, c):
        await agent.put("/v1/directory/me", {"capabilities": [needle], "public": agent is not c})
    assert await a.patch(
        "/v1/directory/me/status",
        {"available": True, "looking_for": ["nlp"], "busy_until": "2030-01-01T00:00:00"},
    ) == (200, {"status": "updated", "agent_id": a.agent_id})
    _, me = await a.get("/v1/directory/me")
    assert (me["available"], me["looking_for"], me["busy_until"]) == (
        True,
        ["nlp"],
        "2030-01-01T00:00:00.000000+00:00",
    )
    # the contract's search: alice is busy until 2030, so she is not available now
    query = {"capability": needle, "available": "true", "min_reputation": 0, "limit": 10}
    status, body = await anon.get("/v1/directory/search", params=query)
    assert status == 200 and [x["agent_id"] for x in body["agents"]] == [b.agent_id] and body["count"] == 1
    status, body = await anon.get("/v1/directory/search", params={"capability": needle})
    assert {x["agent_id"] for x in body["agents"]} == {a.agent_id, b.agent_id}  # c is private
    await c.post(
        "/v1/directory/collaborations", {"partner_agent": a.agent_id, "outcome": "success", "rating": 5}
    )
    status, body = await anon.get("/v1/directory/search", params={"capability": needle, "min_reputation": 1})
    assert [x["agent_id"] for x in body["agents"]] == [a.agent_id] and body["agents"][0]["reputation"] == 5.0
    # busy_until without `available` marks the agent unavailable, as the original did
    await b.patch("/v1/directory/me/status", {"busy_until": "2031-05-01T12:00:00Z"})
    assert (await b.get("/v1/directory/me"))[1]["available"] is False
    assert await b.patch("/v1/directory/me/status", {}) == (400, {"detail": "No fields to update"})
    assert (await b.patch("/v1/directory/me/status", {"busy_until": "tomorrow"}))[0] == 422
    assert (await anon.get("/v1/directory/search", params={"min_reputation": -1}))[0] == 422
    assert (await anon.patch("/v1/directory/me/status", {"available": True}))[0] == 401


async def test_collaborations_and_reputation(alice, bob, stack):
    status, body = await bob.post(
        "/v1/directory/collaborations",
        {"partner_agent": alice.agent_id, "task_type": "analysis", "outcome": "success", "rating": 5},
    )
    assert status == 200 and re.fullmatch(r"collab_[0-9a-f]{12}", body["collaboration_id"])
    assert {k: v for k, v in body.items() if k not in ("collaboration_id", "created_at")} == {
        "agent_id": bob.agent_id,
        "partner_agent": alice.agent_id,
        "task_type": "analysis",
        "outcome": "success",
        "rating": 5,
        "partner_new_reputation": 5.0,
    }
    _, body = await bob.post(
        "/v1/directory/collaborations", {"partner_agent": alice.agent_id, "outcome": "partial", "rating": 2}
    )
    assert body["partner_new_reputation"] == 3.5 and body["task_type"] is None
    _, me = await alice.get("/v1/directory/me")
    assert (me["reputation"], me["reputation_count"]) == (3.5, 2)
    assert await alice.post(
        "/v1/directory/collaborations", {"partner_agent": alice.agent_id, "outcome": "success", "rating": 5}
    ) == (400, {"detail": "Cannot rate yourself"})
    assert await alice.post(
        "/v1/directory/collaborations", {"partner_agent": bob.agent_id, "outcome": "meh", "rating": 5}
    ) == (400, {"detail": "outcome must be: success, failure, or partial"})
    assert await alice.post(
        "/v1/directory/collaborations", {"partner_agent": "agent_nope", "outcome": "success", "rating": 5}
    ) == (404, {"detail": "Partner agent not found"})
    for bad in (
        {"partner_agent": bob.agent_id, "outcome": "success", "rating": 6},
        {"partner_agent": bob.agent_id, "outcome": "success"},
    ):
        assert (await alice.post("/v1/directory/collaborations", bad))[0] == 422
    # a rating delivered twice (e.g. a retried marketplace notice) counts once
    nc = await nats.connect(stack.infra.nats_url)
    try:
        rating = {
            "rating_id": f"mkreview:test_{uuid.uuid4().hex[:6]}:1",
            "agent_id": bob.agent_id,
            "rating": 4,
        }
        first = (await call(nc, svc("directory", "record_rating"), rating, timeout=2)).unwrap()
        again = (await call(nc, svc("directory", "record_rating"), rating, timeout=2)).unwrap()
        assert (first["recorded"], again["recorded"]) == (True, False)
        assert again["reputation_count"] == first["reputation_count"] == 1 and again["reputation"] == 4.0
        missing = await call(
            nc,
            svc("directory", "record_rating"),
            {**rating, "rating_id": "x", "agent_id": "agent_no"},
            timeout=2,
        )
        assert missing.code == "not_found"
    finally:
        await nc.close()


async def test_match(register):
    need = cap()
    me, good, better, busy, private = [await register(n) for n in ("me", "good", "better", "busy", "private")]
    for agent in (me, good, better, busy, private):
        await agent.put("/v1/directory/me", {"capabilities": [need], "public": agent is not private})
    await busy.patch("/v1/directory/me/status", {"available": False})
    await me.post(
        "/v1/directory/collaborations", {"partner_agent": better.agent_id, "outcome": "success", "rating": 5}
    )
    await me.post(
        "/v1/directory/collaborations", {"partner_agent": good.agent_id, "outcome": "partial", "rating": 3}
    )
    status, body = await me.get("/v1/directory/match", params={"need": need, "min_reputation": 0, "limit": 5})
    assert status == 200 and body["need"] == need and body["count"] == 2
    assert [m["agent_id"] for m in body["matches"]] == [better.agent_id, good.agent_id]
    assert set(body["matches"][0]) == {
        "agent_id",
        "name",
        "description",
        "capabilities",
        "available",
        "looking_for",
        "reputation",
        "credits",
        "created_at",
    }
    status, body = await me.get("/v1/directory/match", params={"need": need, "min_reputation": 4})
    assert [m["agent_id"] for m in body["matches"]] == [better.agent_id]
    assert (await me.get("/v1/directory/match"))[0] == 422
    assert (await me.get("/v1/directory/match", params={"need": need, "limit": 51}))[0] == 422


async def test_agent_card(register, anon):
    skill = cap()
    agent = await register("carder")
    await agent.put(
        "/v1/directory/me", {"description": "Summarises", "capabilities": [skill, "nlp"], "public": True}
    )
    status, card = await anon.get(f"/v1/agents/{agent.agent_id}/card")
    assert status == 200 and card["name"] == "carder" and card["description"] == "Summarises"
    assert [s["id"] for s in card["skills"]] == [skill, "nlp"] and card["url"].endswith("/v1")
    assert card["securitySchemes"]["moltgridApiKey"] == {
        **card["securitySchemes"]["moltgridApiKey"],
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    assert card["metadata"]["agent_id"] == agent.agent_id and "defaultInputModes" in card
    await agent.put("/v1/directory/me", {"public": False})
    assert await anon.get(f"/v1/agents/{agent.agent_id}/card") == (404, {"detail": "Agent not found"})
    assert (await anon.get("/v1/agents/agent_nope/card"))[0] == 404


async def test_credits_come_from_the_ledger_and_degrade_without_it(stack, alice, anon):
    if "marketplace" not in selected_components():
        return
    await alice.put("/v1/directory/me", {"capabilities": [needle := cap()], "public": True})
    await alice.post("/v1/marketplace/tasks", {"title": "t", "reward_credits": 60})
    assert (await alice.get("/v1/directory/me"))[1]["credits"] == STARTING - 60
    assert (await anon.get("/v1/directory", params={"capability": needle}))[1]["agents"][0][
        "credits"
    ] == STARTING - 60
    stack.stop_component("marketplace")
    try:
        status, me = await alice.get("/v1/directory/me")
        assert status == 200 and me["credits"] == 0  # the directory's own column: degraded, not failed
        status, body = await anon.get("/v1/directory/search", params={"capability": needle})
        assert status == 200 and body["count"] == 1
    finally:
        stack.start_component("marketplace")
        await stack.wait_ready()


async def test_agent_stats_op_is_the_callers_own(stack, alice):
    nc = await nats.connect(stack.infra.nats_url)
    try:
        mine = await call(
            nc,
            svc("directory", "agent_stats"),
            {"agent_id": "agent_someone"},
            timeout=2,
            ctx=Ctx(agent_id=alice.agent_id),
        )
        assert mine.unwrap() == {"reputation": 0.0, "collaborations_given": 0, "collaborations_received": 0}
    finally:
        await nc.close()


# ── what 1.0's clients read of the directory ────────────────────────────────────────────────────────────────


async def test_interests_are_stored_shown_and_filtered(register, anon):
    topic = cap()
    agent = await register("interested")
    assert (await agent.put("/v1/directory/me", {"interests": [topic, "agents"], "public": True}))[0] == 200
    status, me = await agent.get("/v1/directory/me")
    assert status == 200 and me["interests"] == [topic, "agents"] and me["heartbeat_interval"] == 60
    found = (await anon.get("/v1/directory/search", params={"interest": topic}))[1]
    assert [a["agent_id"] for a in found["agents"]] == [agent.agent_id]
    assert found["agents"][0]["interests"] == [topic, "agents"]
    assert (await anon.get("/v1/directory/search", params={"interest": cap()}))[1] == {
        "agents": [],
        "count": 0,
    }
    # a PUT without interests keeps them, as it keeps capabilities
    assert (await agent.put("/v1/directory/me", {"description": "d", "public": True}))[0] == 200
    assert (await agent.get("/v1/directory/me"))[1]["interests"] == [topic, "agents"]
    node = next(n for n in (await anon.get("/v1/directory/network"))[1]["nodes"] if n["id"] == agent.agent_id)
    assert node["interests"] == [topic, "agents"]
    assert (await agent.put("/v1/directory/me", {"interests": ["x"] * 21}))[0] == 422


async def test_browse_pages_with_offset(register, anon):
    shared = cap()
    agents = [await register(f"paged{i}") for i in range(3)]
    for agent in agents:
        await agent.put("/v1/directory/me", {"capabilities": [shared], "public": True})
    newest_first = [a.agent_id for a in reversed(agents)]
    listed = await anon.get("/v1/directory", params={"capability": shared})
    assert [a["agent_id"] for a in listed[1]["agents"]] == newest_first
    skipped = await anon.get("/v1/directory", params={"capability": shared, "offset": 1, "limit": 1})
    assert [a["agent_id"] for a in skipped[1]["agents"]] == newest_first[1:2]
    assert (await anon.get("/v1/directory", params={"capability": shared, "offset": 3}))[1]["agents"] == []
    status, body = await anon.get("/v1/directory", params={"offset": -1})
    assert status == 422 and [e["loc"] for e in body["detail"]] == [["query", "offset"]]
    assert body["detail"][0]["type"] == "greater_than_equal"


async def test_agent_card_carries_the_directory_card_fields(register, anon, db):
    agent = await register("carded")
    await agent.put("/v1/directory/me", {"capabilities": ["nlp"], "public": True})
    _, card = await anon.get(f"/v1/agents/{agent.agent_id}/card")
    assert card["agent_id"] == agent.agent_id and card["name"] == "carded"
    assert card["status"] == "deregistered" and card["last_seen"] is None  # never beat
    assert card["created_at"] == card["metadata"]["created_at"]
    assert card["endpoint_url"].endswith("/v1/relay/send")
    assert card["a2a_card_url"].endswith(f"/a2a/{agent.agent_id}/.well-known/agent-card.json")
    await agent.post("/v1/agents/heartbeat", {"status": "online"})
    _, card = await anon.get(f"/v1/agents/{agent.agent_id}/card")
    assert card["status"] == "active" and card["last_seen"] is not None
    for age, status in ((600, "inactive"), (4000, "deregistered")):
        # the schema's clock, moved back: a heartbeat that is `age` seconds old
        await db.execute(
            "UPDATE directory.presence SET heartbeat_at = now() - make_interval(secs => $2) WHERE agent_id = $1",
            agent.agent_id,
            age,
        )
        assert (await anon.get(f"/v1/agents/{agent.agent_id}/card"))[1]["status"] == status


async def test_registration_and_deletion_are_announced(register, stack):
    """A registration reaches the ADMIN stream from the directory's outbox (Nats-Msg-Id registered-<agent>,
    so a republished row is deduplicated), and an agent deletion sends bus.directory.agent_deleted."""
    nc = await nats.connect(stack.infra.nats_url)
    try:
        deleted: list[bytes] = []

        async def on_deleted(msg) -> None:
            deleted.append(msg.data)

        await nc.subscribe(subjects.AGENT_DELETED, cb=on_deleted)
        agent = await register("announced")

        async def announced():
            try:
                msg = await nc.jetstream().get_last_msg(subjects.ADMIN_STREAM, subjects.AGENT_REGISTERED)
            except nats.js.errors.NotFoundError:
                return None
            return msg if orjson.loads(msg.data) == {"agent_id": agent.agent_id} else None

        msg = await until("the registration on the ADMIN stream", announced)
        assert (msg.headers or {}).get("Nats-Msg-Id") == f"registered-{agent.agent_id}"
        reply = await call(
            nc,
            svc("directory", "admin_delete_agent"),
            {"agent_id": agent.agent_id},
            timeout=5,
            ctx=Ctx(admin=True),
        )
        assert reply.ok, reply

        async def notified() -> bool:
            return orjson.dumps({"agent_id": agent.agent_id}) in deleted

        await until("the deletion notice", notified)
    finally:
        await nc.close()

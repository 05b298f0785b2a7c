"""Our Python client (sdk/python/moltgrid_client) covers the whole public API, and only routes that exist:
its method table is compared with the gateway's routing table (gateway/routes.py) and with the routes the
gateway app actually serves; the methods added for the issue-5 routes are then driven against the stack."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.routes import ADMIN_ROUTES, ROUTES
from moltgrid_client import AsyncMoltGridClient, MoltGridClient, MoltGridError
from moltgrid_client.api import ENDPOINTS

# Public routes that cannot or need not be a table method, each with the reason.
NOT_A_CLIENT_METHOD = {
    # registration hands back a new agent's key: MoltGridClient.register / AsyncMoltGridClient.register are
    # classmethods returning a client authenticated as that agent
    ("POST", "/v1/register"),
    # the PyPI SDK's spelling of GET /v1/queue/dead-letters, kept on the server for it (queue_dead_letters)
    ("GET", "/v1/queue/dead_letter"),
    # MoltGrid 1.0's spelling of GET /v1/shared-memory (shared_namespaces)
    ("GET", "/v1/shared-memory-namespaces"),
    # 1.0's short spelling of POST /v1/agents/heartbeat (heartbeat)
    ("POST", "/v1/heartbeat"),
    # served by the gateway itself, not the routing table: a WebSocket and a server-sent-event stream are
    # connections, not request/response calls (events() is the polling equivalent)
    ("GET", "/v1/relay/ws"),
    ("GET", "/v1/events/ws"),
    ("GET", "/v1/events/stream"),
    ("GET", "/v1/agents/{agent_id}/events"),
}
# REST routes the gateway answers itself (gateway/app.py), outside the routing table.
GATEWAY_OWN = {("GET", "/v1/health")}


def served_routes() -> set[tuple[str, str]]:
    """(method, path template) of every /v1 route the gateway app registers (HEAD twins left out)."""
    app = create_app(GatewaySettings())
    return {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.method != "HEAD" and r.resource is not None and r.resource.canonical.startswith("/v1/")
    }


def test_every_client_method_calls_a_route_the_gateway_serves():
    table = {(r.method, r.path) for r in ROUTES}
    served = served_routes()
    assert table <= served and served >= GATEWAY_OWN
    names = [name for _, _, name in ENDPOINTS]
    assert len(names) == len(set(names)), "two client methods share a name"
    assert len(ENDPOINTS) == len({(m, p) for m, p, _ in ENDPOINTS}), "two client methods call one route"
    unknown = [(m, p, n) for m, p, n in ENDPOINTS if (m, p) not in table | GATEWAY_OWN]
    assert unknown == [], f"client methods without a route: {unknown}"
    for name in names:  # one table, both transports
        assert callable(getattr(MoltGridClient, name)) and callable(getattr(AsyncMoltGridClient, name))


def test_every_public_route_has_a_client_method():
    covered = {(m, p) for m, p, _ in ENDPOINTS}
    public = {(r.method, r.path) for r in ROUTES} | (
        served_routes() - {(r.method, r.path) for r in (*ROUTES, *ADMIN_ROUTES)}
    )
    missing = sorted(public - covered - NOT_A_CLIENT_METHOD)
    assert missing == [], f"routes without a client method: {missing}"
    assert public >= NOT_A_CLIENT_METHOD, "an exclusion names a route that no longer exists"
    assert not NOT_A_CLIENT_METHOD & covered, "an excluded route has a method after all"
    assert all(not r.path.startswith("/v1/") for r in ADMIN_ROUTES)  # admin data stays out of the client
    assert callable(MoltGridClient.register) and callable(AsyncMoltGridClient.register)


def _wait_for(fetch, ready, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ready(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _new_methods(base: str) -> None:
    alice = MoltGridClient.register(base, "coverage-alice")
    bob = MoltGridClient.register(base, "coverage-bob")
    try:
        # agent card (public) of a profile with capabilities
        alice.directory_update(description="Summaries", capabilities=["summarize"])
        card = bob.agent_card(alice.agent_id)
        assert (card["name"], card["description"], [s["id"] for s in card["skills"]]) == (
            "coverage-alice",
            "Summaries",
            ["summarize"],
        )
        assert card["metadata"]["agent_id"] == alice.agent_id
        with pytest.raises(MoltGridError) as err:
            bob.agent_card("agent_000000000000")
        assert err.value.status == 404

        # credits: posting holds the reward, cancelling refunds it, the statement shows both
        start = alice.credits()
        task = alice.marketplace_create("Summarise a paper", reward_credits=10, category="nlp")
        held = alice.credits()
        assert (held["balance"], held["escrowed"]) == (start["balance"] - 10, start["escrowed"] + 10)
        assert alice.marketplace_cancel(task["task_id"]) == {
            "task_id": task["task_id"],
            "status": "cancelled",
            "credits_refunded": 10,
        }
        after = alice.credits(limit=5)
        assert (after["balance"], after["escrowed"]) == (start["balance"], start["escrowed"])
        assert after["count"] == len(after["entries"]) <= 5
        assert {e["task_id"] for e in after["entries"][:2]} == {task["task_id"]}
        with pytest.raises(MoltGridError) as err:
            alice.marketplace_cancel(task["task_id"])
        assert err.value.status == 409 and err.value.detail == "Task is not open (status: cancelled)"

        # webhook delivery log and replay: bob's hook points at a closed local port, so the delivery fails
        hook = bob.webhook_create("http://127.0.0.1:9/hook", ["message.received"])
        sent = alice.send_message(bob.agent_id, "ping")
        log = _wait_for(
            lambda: bob.webhook_deliveries(hook["webhook_id"], limit=10),
            lambda d: d["count"] >= 1 and d["deliveries"][0]["attempts"] >= 1,
        )
        assert log["webhook_id"] == hook["webhook_id"] and log["count"] == 1
        delivery = log["deliveries"][0]
        assert delivery["event_type"] == "message.received" and delivery["last_error"]
        assert bob.webhook_replay_delivery(hook["webhook_id"], delivery["delivery_id"]) == {
            "status": "queued",
            "delivery_id": delivery["delivery_id"],
        }
        with pytest.raises(MoltGridError) as err:
            alice.webhook_replay_delivery(hook["webhook_id"], delivery["delivery_id"])
        assert err.value.status == 404
        bob.webhook_delete(hook["webhook_id"])

        # events: the message shows up in bob's stream; acknowledging moves his cursor past it
        found = bob.events(types=["message.received"], wait=5)
        received = [e for e in found["events"] if e["data"].get("message_id") == sent["message_id"]]
        assert len(received) == 1 and received[0]["type"] == "message.received"
        assert bob.events_ack(found["cursor"]) == {"status": "acknowledged", "cursor": found["cursor"]}
        again = bob.events(types="message.received")
        assert again["events"] == [] and again["cursor"] == found["cursor"]
        assert bob.events_ack(event_ids=[received[0]["event_id"]]) == {"acknowledged": 1}

        # messages: status, trace, dead letters, the inbox cursor
        assert bob.message_status(sent["message_id"])["status"] == "delivered"
        assert [h["hop"] for h in alice.message_trace(sent["message_id"])["hops"]][:2] == [
            "accepted",
            "stored",
        ]
        assert alice.message_dead_letters(limit=5) == {"messages": [], "count": 0}
        later = alice.send_message(bob.agent_id, "pong")
        page = bob.inbox(channel="*", after=sent["message_id"])
        assert [m["message_id"] for m in page["messages"]] == [later["message_id"]]
        assert page["next_cursor"] == later["message_id"]

        # task graphs: a dependency gates the claim; complete, then update the second task
        first = alice.task_create("fetch", description="step 1", priority=2)
        second = alice.task_create("analyse", metadata={"k": 1})
        added = alice.task_add_dependency(second["task_id"], first["task_id"])
        assert added["dependencies"] == [first["task_id"]]
        claimable = alice.task_list(creator=alice.agent_id, claimable=True)
        assert [t["task_id"] for t in claimable["tasks"]] == [first["task_id"]]
        with pytest.raises(MoltGridError) as err:
            bob.task_claim(second["task_id"])
        assert err.value.status == 409
        assert bob.task_claim(first["task_id"], lease_seconds=60)["claimed_by"] == bob.agent_id
        assert bob.task_complete(first["task_id"], result={"rows": 3})["status"] == "completed"
        assert bob.task_claim(second["task_id"])["status"] == "running"
        assert bob.task_update(second["task_id"], "failed", result="no data")["status"] == "failed"
        got = alice.task_get(second["task_id"])
        assert (got["status"], got["result"], got["depends_on"]) == ("failed", "no data", [first["task_id"]])

        # MoltGrid 1.0's additions: batch submit, onboarding, templates, a webhook test, key rotation
        batch = alice.queue_batch([{"payload": "b1"}, {"payload": "b2", "queue_name": "cov"}])
        assert [r["queue_name"] for r in batch["results"]] == ["default", "cov"] and batch["succeeded"] == 2
        assert alice.onboarding_status()["steps"][3] == {
            "id": "queue",
            "title": "Submit a job",
            "completed": True,
            "endpoint": "POST /v1/queue/submit",
        }
        assert alice.onboarding_start()["total"] == 7
        assert alice.template("tmpl_worker") == alice.templates()["templates"][0]
        hook = alice.webhook_create("http://127.0.0.1:9/hook", ["job.completed"])
        assert alice.webhook_test(hook["webhook_id"])["status"] == "failed"
        rotated = bob.rotate_key()
        with pytest.raises(MoltGridError) as err:
            bob.directory_me()
        assert err.value.status == 401
        with MoltGridClient(base, rotated["api_key"]) as renewed:
            assert renewed.directory_me()["agent_id"] == bob.agent_id
    finally:
        alice.close()
        bob.close()


async def test_the_methods_for_the_newer_routes_work_against_the_server(stack):
    await asyncio.to_thread(_new_methods, stack.base_url)
    async with await AsyncMoltGridClient.register(stack.url(1), "coverage-async") as client:
        statement = await client.credits()
        assert statement["agent_id"] == client.agent_id and re.fullmatch(
            r"agent_[0-9a-f]{12}", client.agent_id
        )
        assert (await client.events())["events"] == []


def _pubsub_and_presence_methods(base: str) -> None:
    alice = MoltGridClient.register(base, "coverage-pub")
    bob = MoltGridClient.register(base, "coverage-sub")
    try:
        channel = f"cov{bob.agent_id[-6:]}"
        assert bob.pubsub_subscribe(f"{channel}.>")["status"] == "subscribed"
        assert [s["channel"] for s in bob.pubsub_subscriptions()["subscriptions"]] == [f"{channel}.>"]
        assert {"channel": f"{channel}.>", "subscriber_count": 1} in bob.pubsub_channels(limit=1000)[
            "channels"
        ]
        assert alice.pubsub_publish(f"{channel}.a.b", {"k": 1})["subscribers_notified"] == 1
        assert bob.inbox(channel=f"pubsub:{channel}.a.b")["messages"][0]["payload"] == {"k": 1}
        assert bob.pubsub_unsubscribe(f"{channel}.>")["status"] == "unsubscribed"
        assert bob.heartbeat("idle", {"q": 1})["status"] == "idle"
        assert alice.directory_profile(bob.agent_id)["heartbeat_status"] == "idle"
        with pytest.raises(MoltGridError) as err:
            alice.directory_profile("agent_000000000000")
        assert err.value.status == 404
        assert alice.leaderboard(sort_by="requests", limit=3)["sort_by"] == "requests"
        assert alice.directory_stats()["total_agents"] >= 2
        alice.collaboration_log(bob.agent_id, "success", 5)
        assert any(n["id"] == bob.agent_id for n in alice.directory_network()["nodes"])
        assert bob.collaborations(limit=5, offset=0)["collaborations"][0]["agent_id"] == alice.agent_id
    finally:
        alice.close()
        bob.close()


async def test_the_pubsub_and_presence_methods_work_against_the_server(stack):
    await asyncio.to_thread(_pubsub_and_presence_methods, stack.base_url)


def _vector_methods(base: str) -> None:
    client = MoltGridClient.register(base, "coverage-vectors")
    try:
        assert (
            client.vector_upsert("v1", "the cat sat on the mat", metadata={"kind": "pet"}, importance=0.9)[
                "dimensions"
            ]
            == 384
        )
        client.vector_upsert("v2", "stock markets fell sharply today", metadata={"kind": "news"})
        found = client.vector_search("a kitten on a rug", limit=2, scoring="composite")
        assert found["scoring"] == "composite" and found["results"][0]["key"] == "v1"
        assert [
            r["key"] for r in client.vector_search("cat", metadata_filter={"kind": "news"})["results"]
        ] == ["v2"]
        assert client.vector_get("v1")["importance"] == 0.9
        assert client.vector_list(limit=5)["count"] == 2
        assert client.vector_delete("v2")["status"] == "deleted"
        with pytest.raises(MoltGridError) as err:
            client.vector_get("v2")
        assert err.value.status == 404
    finally:
        client.close()


async def test_the_vector_memory_methods_work_against_the_server(stack):
    await asyncio.to_thread(_vector_methods, stack.base_url)


def _a2a_methods(base: str) -> None:
    caller = MoltGridClient.register(base, "coverage-a2a-caller")
    agent = MoltGridClient.register(base, "coverage-a2a-agent")
    try:
        import httpx

        sent = httpx.post(
            f"{base}/a2a/{agent.agent_id}/message:send",
            headers={"X-API-Key": caller.api_key, "A2A-Version": "1.0"},
            json={
                "message": {"messageId": "c1", "role": "ROLE_USER", "parts": [{"text": "hi"}]},
                "configuration": {"returnImmediately": True},
            },
        ).json()
        task_id = sent["task"]["id"]
        assert [t["id"] for t in agent.a2a_tasks(state="TASK_STATE_SUBMITTED")["tasks"]] == [task_id]
        done = agent.a2a_update_status(
            task_id, "TASK_STATE_COMPLETED", artifacts=[{"artifactId": "a", "parts": [{"text": "ok"}]}]
        )
        assert done["status"]["state"] == "TASK_STATE_COMPLETED"
        assert isinstance(caller.a2a_agents(include_hosted=False)["agents"], list)
        with pytest.raises(MoltGridError) as err:
            caller.a2a_add_agent("http://127.0.0.1:9/not-there")
        assert err.value.status == 400
        with pytest.raises(MoltGridError) as err:
            caller.a2a_remove_agent("ext_0000000000000000")
        assert err.value.status == 404
    finally:
        caller.close()
        agent.close()


async def test_the_a2a_methods_work_against_the_server(stack):
    await asyncio.to_thread(_a2a_methods, stack.base_url)

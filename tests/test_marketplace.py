"""Marketplace: the contract's workflow, escrow and the ledger, events, and races across two replicas."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from datetime import UTC, datetime, timedelta

import nats
import orjson
import pytest

from shared.bus import call
from shared.subjects import instance_health, svc
from tests.helpers import until

STARTING = 200
TASK = {
    "title": "Analyze tweets",
    "description": "Sentiment",
    "category": "nlp",
    "requirements": ["sentiment"],
    "reward_credits": 50,
    "priority": 5,
    "estimated_effort": "1h",
    "tags": ["nlp"],
    "deadline": "2030-12-31T23:59:59",
}
FIELDS = {
    "task_id",
    "creator_agent",
    "title",
    "description",
    "category",
    "requirements",
    "reward_credits",
    "priority",
    "estimated_effort",
    "tags",
    "deadline",
    "status",
    "claimed_by",
    "claimed_at",
    "delivered_at",
    "result",
    "rating",
    "created_at",
}


async def assert_invariant(db) -> None:
    """Balances + held escrow == everything ever granted, and every balance is the sum of its entries."""
    totals = await db.fetchrow(
        "SELECT (SELECT coalesce(sum(balance), 0) FROM marketplace.accounts) AS balances,"
        " (SELECT coalesce(sum(amount), 0) FROM marketplace.escrow WHERE status = 'held') AS held,"
        " (SELECT coalesce(sum(amount), 0) FROM marketplace.ledger WHERE kind = 'grant') AS granted"
    )
    assert totals["balances"] + totals["held"] == totals["granted"], dict(totals)
    drift = await db.fetch(
        "SELECT a.agent_id FROM marketplace.accounts a LEFT JOIN (SELECT agent_id, sum(amount) AS s"
        " FROM marketplace.ledger GROUP BY agent_id) l USING (agent_id) WHERE a.balance <> coalesce(l.s, 0)"
    )
    assert drift == []
    held = await db.fetch(
        "SELECT e.task_id FROM marketplace.escrow e JOIN marketplace.tasks t USING (task_id)"
        " WHERE e.status = 'held' AND t.status IN ('completed', 'cancelled', 'expired')"
    )
    assert held == []


async def balance(agent) -> int:
    status, body = await agent.get("/v1/credits")
    assert status == 200, body
    return body["balance"]


async def test_contract_workflow(alice, bob, register, anon, db):
    carol = await register("carol")
    status, body = await alice.post("/v1/marketplace/tasks", TASK)
    assert status == 200 and body["status"] == "open"
    assert set(body) == {"task_id", "status", "created_at", "credits_deducted"}
    assert body["credits_deducted"] == TASK["reward_credits"]  # 1.0's field: the reward held in escrow
    task_id = body["task_id"]
    assert re.fullmatch(r"mktask_[0-9a-f]{12}", task_id)
    status, body = await alice.post("/v1/marketplace/tasks", {"title": "Big", "reward_credits": 10_000_000})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "reward_credits"]
    assert body["detail"][0]["msg"] == "Input should be less than or equal to 10000"

    status, body = await anon.get(
        "/v1/marketplace/tasks", params={"category": "nlp", "status": "open", "min_reward": 10}
    )
    mine = [t for t in body["tasks"] if t["task_id"] == task_id]
    assert status == 200 and body["count"] == len(body["tasks"]) and len(mine) == 1
    assert (
        set(mine[0]) == FIELDS
        and mine[0]["deadline"] == "2030-12-31T23:59:59"
        and mine[0]["claimed_by"] is None
    )
    status, got = await bob.get(f"/v1/marketplace/tasks/{task_id}")
    assert status == 200 and {k: got[k] for k in TASK} == TASK and got["creator_agent"] == alice.agent_id
    assert await bob.get("/v1/marketplace/tasks/task_nope") == (404, {"detail": "Task not found"})

    assert await alice.post(f"/v1/marketplace/tasks/{task_id}/claim") == (
        400,
        {"detail": "Cannot claim your own task"},
    )
    assert await bob.post(f"/v1/marketplace/tasks/{task_id}/claim") == (
        200,
        {"task_id": task_id, "status": "claimed", "claimed_by": bob.agent_id},
    )
    assert await carol.post(f"/v1/marketplace/tasks/{task_id}/claim") == (
        409,
        {"detail": "Task is not open (status: claimed)"},
    )
    assert await carol.post(f"/v1/marketplace/tasks/{task_id}/deliver", {"result": "x"}) == (
        403,
        {"detail": "Only the claimant can deliver"},
    )
    assert await bob.post(f"/v1/marketplace/tasks/{task_id}/deliver", {"result": "73% positive"}) == (
        200,
        {"task_id": task_id, "status": "delivered"},
    )
    assert await bob.post(f"/v1/marketplace/tasks/{task_id}/review", {"accept": True, "rating": 5}) == (
        403,
        {"detail": "Only the creator can review"},
    )
    assert (await carol.get(f"/v1/marketplace/tasks/{task_id}"))[1]["result"] is None  # not a party to it
    assert (await alice.get(f"/v1/marketplace/tasks/{task_id}"))[1]["result"] == "73% positive"
    assert await alice.post(f"/v1/marketplace/tasks/{task_id}/review", {"accept": True, "rating": 5}) == (
        200,
        {"task_id": task_id, "status": "completed", "credits_awarded": 50},
    )
    status, me = await bob.get("/v1/directory/me")
    assert status == 200 and me["credits"] == STARTING + 50  # the ledger's balance, not a minted column

    status, body = await alice.post("/v1/marketplace/tasks", {"title": "Second", "reward_credits": 10})
    second = body["task_id"]
    assert await alice.post(f"/v1/marketplace/tasks/{second}/review", {"accept": False, "rating": 1}) == (
        200,
        {"task_id": second, "status": "open", "credits_awarded": 0},
    )
    status, got = await alice.get(f"/v1/marketplace/tasks/{second}")
    assert {
        k: got[k]
        for k in (
            "description",
            "category",
            "requirements",
            "priority",
            "estimated_effort",
            "tags",
            "deadline",
            "status",
            "claimed_by",
            "rating",
        )
    } == {
        "description": None,
        "category": None,
        "requirements": [],
        "priority": 0,
        "estimated_effort": None,
        "tags": [],
        "deadline": None,
        "status": "open",
        "claimed_by": None,
        "rating": None,
    }
    assert await balance(alice) == STARTING - 50 - 10
    await assert_invariant(db)


async def test_bad_input_is_refused(alice):
    for body in (
        {},
        {"title": "x", "priority": 11},
        {"title": "x", "reward_credits": -1},
        {"title": "x", "deadline": "soon"},
        {"title": "x" * 257},
        {"title": "x", "tags": "nlp"},
    ):
        status, _ = await alice.post("/v1/marketplace/tasks", body)
        assert status == 422, body
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert (await alice.post("/v1/marketplace/tasks", {"title": "x", "deadline": past}))[0] == 400
    status, body = await alice.post("/v1/marketplace/tasks", {"title": "x"})
    assert (await alice.post(f"/v1/marketplace/tasks/{body['task_id']}/review", {"rating": 3}))[0] == 422
    assert (await alice.post(f"/v1/marketplace/tasks/{body['task_id']}/deliver", {}))[0] == 422


async def test_escrow_cancel_and_the_ledger_statement(alice, bob, db):
    status, body = await alice.get("/v1/credits")
    assert status == 200 and body["balance"] == STARTING and body["escrowed"] == 0
    assert [(e["kind"], e["amount"], e["entry_id"]) for e in body["entries"]] == [
        ("grant", STARTING, f"grant:{alice.agent_id}")
    ]
    status, body = await alice.post("/v1/marketplace/tasks", {"title": "big", "reward_credits": 150})
    task_id = body["task_id"]
    status, body = await alice.get("/v1/credits")
    assert (body["balance"], body["escrowed"]) == (50, 150)
    assert body["entries"][0] == {
        **body["entries"][0],
        "kind": "hold",
        "amount": -150,
        "balance_after": 50,
        "task_id": task_id,
    }
    status, body = await alice.post("/v1/marketplace/tasks", {"title": "too big", "reward_credits": 51})
    assert (status, body) == (400, {"detail": "Insufficient credits: balance 50, reward_credits 51"})
    assert await bob.post(f"/v1/marketplace/tasks/{task_id}/cancel") == (
        403,
        {"detail": "Only the creator can cancel"},
    )
    assert await alice.post(f"/v1/marketplace/tasks/{task_id}/cancel") == (
        200,
        {"task_id": task_id, "status": "cancelled", "credits_refunded": 150},
    )
    assert await alice.post(f"/v1/marketplace/tasks/{task_id}/cancel") == (
        409,
        {"detail": "Task is not open (status: cancelled)"},
    )
    assert await bob.post(f"/v1/marketplace/tasks/{task_id}/claim") == (
        409,
        {"detail": "Task is not open (status: cancelled)"},
    )
    assert await balance(alice) == STARTING
    # the ledger is append-only, even for the database owner
    with pytest.raises(Exception, match="immutable"):
        await db.execute("UPDATE marketplace.ledger SET amount = 1 WHERE agent_id = $1", alice.agent_id)
    await assert_invariant(db)


async def test_reject_reopens_and_a_second_review_pays_nothing(alice, bob, register, db):
    carol = await register("carol")
    _, body = await alice.post("/v1/marketplace/tasks", {"title": "t", "reward_credits": 40})
    task_id = body["task_id"]
    await bob.post(f"/v1/marketplace/tasks/{task_id}/claim")
    await bob.post(f"/v1/marketplace/tasks/{task_id}/deliver", {"result": "meh"})
    assert await alice.post(f"/v1/marketplace/tasks/{task_id}/review", {"accept": False, "rating": 2}) == (
        200,
        {"task_id": task_id, "status": "open", "credits_awarded": 0},
    )
    _, got = await alice.get(f"/v1/marketplace/tasks/{task_id}")
    assert (got["status"], got["claimed_by"], got["result"], got["delivered_at"]) == (
        "open",
        None,
        None,
        None,
    )
    assert await balance(bob) == STARTING
    await carol.post(f"/v1/marketplace/tasks/{task_id}/claim")
    await carol.post(f"/v1/marketplace/tasks/{task_id}/deliver", {"result": "good"})
    first, second = await asyncio.gather(
        alice.post(f"/v1/marketplace/tasks/{task_id}/review", {"accept": True, "rating": 4}),
        alice.on(alice.base).post(f"/v1/marketplace/tasks/{task_id}/review", {"accept": True, "rating": 4}),
    )
    assert sorted([first[0], second[0]]) == [200, 409]
    assert await balance(carol) == STARTING + 40 and await balance(alice) == STARTING - 40
    # reputation: bob's rejection rated 2, carol's acceptance 4 (delivered to the directory by notices)
    deadline = time.monotonic() + 10
    while (await carol.get("/v1/directory/me"))[1]["reputation_count"] != 1:
        assert time.monotonic() < deadline, "rating never reached the directory"
        await asyncio.sleep(0.2)
    assert (await carol.get("/v1/directory/me"))[1]["reputation"] == 4.0
    assert (await bob.get("/v1/directory/me"))[1]["reputation"] == 2.0
    await assert_invariant(db)


async def test_unclaimed_task_past_its_deadline_is_refunded(alice, bob, db):
    deadline = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    _, body = await alice.post(
        "/v1/marketplace/tasks", {"title": "soon", "reward_credits": 30, "deadline": deadline}
    )
    task_id = body["task_id"]
    assert await balance(alice) == STARTING - 30
    until = time.monotonic() + 10
    while (await alice.get(f"/v1/marketplace/tasks/{task_id}"))[1]["status"] != "expired":
        assert time.monotonic() < until, "the deadline sweep never expired the task"
        await asyncio.sleep(0.3)
    assert await balance(alice) == STARTING
    assert await bob.post(f"/v1/marketplace/tasks/{task_id}/claim") == (
        409,
        {"detail": "Task is not open (status: expired)"},
    )
    await assert_invariant(db)


async def test_events_reach_the_event_stream(stack, alice, bob):
    nc = await nats.connect(stack.infra.nats_url)
    got: list[dict] = []

    async def collect(msg) -> None:
        got.append(orjson.loads(msg.data))

    try:
        await nc.subscribe(f"events.{alice.agent_id}.marketplace.>", cb=collect)
        await nc.subscribe(f"events.{bob.agent_id}.marketplace.>", cb=collect)
        await nc.flush()
        _, body = await alice.post("/v1/marketplace/tasks", {"title": "evented", "reward_credits": 5})
        task_id = body["task_id"]
        await bob.post(f"/v1/marketplace/tasks/{task_id}/claim")
        await bob.post(f"/v1/marketplace/tasks/{task_id}/deliver", {"result": "done"})
        await alice.post(f"/v1/marketplace/tasks/{task_id}/review", {"accept": True, "rating": 5})
        until = time.monotonic() + 10
        while len(got) < 3:
            assert time.monotonic() < until, got
            await asyncio.sleep(0.1)
    finally:
        await nc.close()
    by_type = {e["type"]: e for e in got}
    assert by_type["marketplace.task_claimed"]["agent_id"] == alice.agent_id
    assert by_type["marketplace.task_claimed"]["data"]["claimed_by"] == bob.agent_id
    assert by_type["marketplace.task_delivered"]["agent_id"] == alice.agent_id
    reviewed = by_type["marketplace.task_reviewed"]
    assert reviewed["agent_id"] == bob.agent_id and reviewed["data"] == {
        **reviewed["data"],
        "task_id": task_id,
        "accepted": True,
        "credits_awarded": 5,
        "status": "completed",
    }


@pytest.fixture
async def two_replicas(stack):
    """A second marketplace replica for this test only; stopped and forgotten afterwards."""
    child = stack.sup.spawn("marketplace", 1)
    nc = await nats.connect(stack.infra.nats_url)
    try:
        until = time.monotonic() + 30
        while not (await call(nc, instance_health("marketplace", "marketplace-1"), {}, timeout=0.5)).ok:
            assert time.monotonic() < until, "second marketplace replica did not start"
            await asyncio.sleep(0.2)
        yield nc
    finally:
        await nc.close()
        child.stop()
        stack.sup.children.pop("marketplace-1", None)


async def test_fifty_agents_race_for_one_task_across_two_replicas(stack, alice, register, db, two_replicas):
    agents = await asyncio.gather(*(register(f"racer{i}") for i in range(50)))
    _, body = await alice.post("/v1/marketplace/tasks", {"title": "race", "reward_credits": 25})
    task_id = body["task_id"]
    replies = await asyncio.gather(
        *(a.on(stack.url(i % 2)).post(f"/v1/marketplace/tasks/{task_id}/claim") for i, a in enumerate(agents))
    )
    winners = [a for a, (status, _) in zip(agents, replies, strict=False) if status == 200]
    assert len(winners) == 1 and sorted(s for s, _ in replies).count(409) == 49
    assert all(b == {"detail": "Task is not open (status: claimed)"} for s, b in replies if s == 409)
    # both replicas really served claims
    served = await asyncio.gather(
        *(
            call(two_replicas, instance_health("marketplace", f"marketplace-{i}"), {}, timeout=1)
            for i in range(2)
        )
    )
    assert all(r.ok for r in served)
    winner = winners[0]
    await winner.post(f"/v1/marketplace/tasks/{task_id}/deliver", {"result": "won"})
    reviews = await asyncio.gather(
        *(
            alice.on(stack.url(i % 2)).post(
                f"/v1/marketplace/tasks/{task_id}/review", {"accept": True, "rating": 5}
            )
            for i in range(6)
        )
    )
    assert sorted(s for s, _ in reviews) == [200] + [409] * 5
    assert await balance(winner) == STARTING + 25
    await assert_invariant(db)


async def _statement(agent) -> dict | None:
    status, statement = await agent.get("/v1/credits")
    return statement if status == 200 else None


async def test_a_replica_killed_mid_burst_creates_or_destroys_no_credits(stack, register, db, two_replicas):
    agents = await asyncio.gather(*(register(f"burst{i}") for i in range(10)))

    async def churn(agent, gateway: int) -> None:
        api = agent.on(stack.url(gateway))
        for n in range(6):
            status, body = await api.post("/v1/marketplace/tasks", {"title": f"b{n}", "reward_credits": 7})
            if status == 200 and n % 2:
                await api.post(f"/v1/marketplace/tasks/{body['task_id']}/cancel")

    burst = asyncio.gather(*(churn(a, i % 2) for i, a in enumerate(agents)), return_exceptions=True)
    await asyncio.sleep(0.3)
    stack.sup.children["marketplace-1"].proc.send_signal(signal.SIGKILL)
    await burst
    await assert_invariant(db)
    for agent in agents:  # each agent's books balance: balance + its held escrow == its grant
        statement = await until(
            "the statement (a request may still meet the killed replica)",
            lambda agent=agent: _statement(agent),
        )
        assert statement["balance"] + statement["escrowed"] == STARTING, statement


async def test_balances_and_agent_stats_ops(stack, alice):
    nc = await nats.connect(stack.infra.nats_url)
    try:
        await alice.post("/v1/marketplace/tasks", {"title": "s", "reward_credits": 20})
        reply = await call(
            nc, svc("marketplace", "balances"), {"agent_ids": [alice.agent_id, "agent_unused"]}, timeout=2
        )
        assert reply.unwrap() == {alice.agent_id: STARTING - 20, "agent_unused": STARTING}
        assert not (await call(nc, svc("marketplace", "agent_stats"), {}, timeout=2)).ok  # who is asking?
    finally:
        await nc.close()

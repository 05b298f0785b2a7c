"""Quotas on stored things, and sybils, attacked.

Quotas: an agent fills its quota, its next write is refused in the contract's error shape (429 quota_exceeded,
retry_after_seconds null: waiting does not free a slot) while a victim's writes still succeed; two concurrent
writes at the last slot, sent to different gateways, leave exactly one stored.

Sybils: registrations are limited per client network (a 429 saying when to retry), an operator's invite key is
required when set, and agents of one network cannot farm credits or reputation from each other. Client
networks are loopback addresses (127.x.y.z: every one reaches the gateway as a client address of its own).

This module runs its own stack with small quotas and the production defaults of the anti-sybil rules (the
session stack keeps the defaults of tests/stack.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from shared.passwords import hash_password
from tests.conftest import ADMIN_PASSWORD, TEST_ENCRYPTION_KEY, Api
from tests.stack import Infra, Stack, selected_components

ENTRIES, BYTES, WEBHOOKS, SCHEDULES = 4, 2000, 3, 3
UNREAD, UNREAD_PER_SENDER, ACKED_IDS, FANOUT_BYTES = 5, 3, 3, 4000
PER_NETWORK, INVITE = 3, "let-me-in"
STARTING = 200
_fresh = itertools.count(1)


@pytest.fixture(scope="module")
def quota_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """NATS and PostgreSQL of this module's own: services of the session stack on a shared NATS would answer
    for this stack's (they are the same queue groups) with their own, larger quotas."""
    servers = Infra.start(tmp_path_factory.mktemp("quota-infra"), fast_unsafe=True)
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
async def stack(quota_infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    infra = quota_infra
    db = await infra.create_database()
    services = ",".join(c for c in selected_components() if c != "gateway")
    s = Stack(
        infra,
        db,
        tmp_path_factory.mktemp("quota-logs"),
        env={
            "MOLTGRID_REQUEST_TIMEOUT": "5",
            "MOLTGRID_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
            "MOLTGRID_SERVICES": services,
            "MOLTGRID_LOG_FORMAT": "json",
            "MOLTGRID_ADMIN_PASSWORD_HASH": hash_password(ADMIN_PASSWORD),
            "MOLTGRID_ALLOW_PRIVATE_WEBHOOKS": "true",
            "MOLTGRID_MEMORY_MAX_ENTRIES": str(ENTRIES),
            "MOLTGRID_MEMORY_MAX_BYTES": str(BYTES),
            "MOLTGRID_WEBHOOK_MAX_PER_AGENT": str(WEBHOOKS),
            "MOLTGRID_SCHEDULER_MAX_PER_AGENT": str(SCHEDULES),
            "MOLTGRID_SCHEDULER_MAX_FREQUENT_PER_AGENT": "1",
            "MOLTGRID_INBOX_MAX_UNREAD": str(UNREAD),
            "MOLTGRID_INBOX_MAX_UNREAD_PER_SENDER": str(UNREAD_PER_SENDER),
            "MOLTGRID_EVENT_ACKS_MAX_PER_AGENT": str(ACKED_IDS),
            "MOLTGRID_PUBSUB_MAX_FANOUT_BYTES": str(FANOUT_BYTES),
            "MOLTGRID_REGISTRATIONS_PER_NETWORK_PER_HOUR": str(PER_NETWORK),
            "MOLTGRID_REGISTRATION_INVITE_KEY": INVITE,
            "MOLTGRID_SAME_NETWORK_COUNTS": "false",
        },
    )
    s.start({"memory": 2}, gateways=2)
    try:
        await s.wait_ready()
        yield s
    finally:
        s.stop()


async def refused(agent: Api, path: str, body: dict[str, Any], quota: str) -> None:
    """The write is refused in the contract's shape (the seed's detail, 1.0's fields beside it)."""
    status, whole, headers = await agent.request("POST", path, json=body, envelope=True)
    assert "Retry-After" not in headers
    assert_quota_refusal(status, whole, quota)


@pytest.fixture
async def networks() -> AsyncIterator[Any]:
    """Factory: an HTTP session whose connections come from a loopback address of its own (a client network)."""
    sessions: list[aiohttp.ClientSession] = []

    def make() -> aiohttp.ClientSession:
        n = next(_fresh)
        local = f"127.{100 + n // 250}.{n % 250}.1"
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(local, 0)), timeout=aiohttp.ClientTimeout(total=30)
        )
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        await session.close()


async def register_from(
    session: aiohttp.ClientSession, base: str, name: str, **kw: Any
) -> tuple[int, Any, Any]:
    return await Api(session, base).request(
        "POST", "/v1/register", json={"name": name}, headers={"X-Invite-Key": INVITE}, envelope=True, **kw
    )


@pytest.fixture
def register(http: aiohttp.ClientSession, stack: Stack, networks):
    """Factory: a fresh agent, registered from a network of its own (so the tests' many registrations stay
    under the per-network limit); it then acts from 127.0.0.1 like every other test client."""

    async def make(name: str = "test-agent") -> Api:
        status, body, _ = await register_from(networks(), stack.base_url, name)
        assert status == 200, body
        return Api(http, stack.base_url, body["api_key"], body["agent_id"])

    return make


def assert_quota_refusal(status: int, body: Any, quota: str) -> None:
    assert status == 429, body
    assert body["error"] == "quota_exceeded" and body["retry_after_seconds"] is None, body
    assert isinstance(body["detail"], str) and body["message"] == body["detail"] and body["request_id"]
    assert quota.split("_")[0] in body["detail"].lower()


async def at_last_slot(agent: Api, stack: Stack, path: str, bodies: list[dict[str, Any]]) -> list[int]:
    """Two writes at once, one through each gateway: their statuses."""
    first, second = agent.on(stack.url(0)), agent.on(stack.url(1))
    results = await asyncio.gather(first.post(path, bodies[0]), second.post(path, bodies[1]))
    return sorted(status for status, _ in results)


async def test_memory_entries_quota(register, stack):
    attacker, victim = await register("attacker"), await register("victim")
    for i in range(ENTRIES - 1):
        assert (await attacker.post("/v1/memory", {"key": f"k{i}", "value": "x"}))[0] == 200
    assert await at_last_slot(
        attacker, stack, "/v1/memory", [{"key": "a", "value": "x"}, {"key": "b", "value": "x"}]
    ) == [200, 429]
    await refused(attacker, "/v1/memory", {"key": "more", "value": "x"}, "memory_entries")
    # a batch: each item on its own; the full quota refuses the new key, the overwrite passes
    status, batch = await attacker.post(
        "/v1/memory/batch", {"items": [{"key": "new", "value": "x"}, {"key": "k1", "value": "z"}]}
    )
    assert status == 200 and [r["status"] for r in batch["results"]] == ["quota_exceeded", "stored"], batch
    # an overwrite of an existing entry does not grow the count: still allowed
    assert (await attacker.post("/v1/memory", {"key": "k0", "value": "y"}))[0] == 200
    # a deleted entry frees its slot
    assert (await attacker.delete("/v1/memory/k0"))[0] == 200
    assert (await attacker.post("/v1/memory", {"key": "more", "value": "x"}))[0] == 200
    # the victim is untouched
    for i in range(ENTRIES):
        assert (await victim.post("/v1/memory", {"key": f"v{i}", "value": "x"}))[0] == 200
    assert (await victim.get("/v1/memory/v0"))[1]["value"] == "x"


async def test_memory_bytes_quota(register):
    attacker, victim = await register("attacker"), await register("victim")
    assert (await attacker.post("/v1/memory", {"key": "big", "value": "x" * (BYTES - 10)}))[0] == 200
    await refused(attacker, "/v1/memory", {"key": "more", "value": "x" * 20}, "memory_bytes")
    assert (await attacker.get("/v1/memory/more"))[0] == 404  # refused writes leave nothing behind
    # shrinking the big entry makes room again
    assert (await attacker.post("/v1/memory", {"key": "big", "value": "x"}))[0] == 200
    assert (await attacker.post("/v1/memory", {"key": "more", "value": "x" * 20}))[0] == 200
    assert (await victim.post("/v1/memory", {"key": "big", "value": "x" * (BYTES - 10)}))[0] == 200


async def test_webhooks_quota(register, stack):
    attacker, victim = await register("attacker"), await register("victim")

    def hook(n: int) -> dict[str, Any]:
        return {"url": f"http://127.0.0.1:9/h{n}", "event_types": ["message.received"]}

    for i in range(WEBHOOKS - 1):
        assert (await attacker.post("/v1/webhooks", hook(i)))[0] == 200
    assert await at_last_slot(attacker, stack, "/v1/webhooks", [hook(10), hook(11)]) == [200, 429]
    await refused(attacker, "/v1/webhooks", hook(12), "webhooks")
    assert (await attacker.get("/v1/webhooks"))[1]["count"] == WEBHOOKS
    for i in range(WEBHOOKS):
        assert (await victim.post("/v1/webhooks", hook(i)))[0] == 200


async def test_schedules_quota(register, stack):
    attacker, victim = await register("attacker"), await register("victim")
    body = {"cron_expr": "*/5 * * * *", "payload": "x"}  # every 5 minutes: not "frequent"
    for _ in range(SCHEDULES - 1):
        assert (await attacker.post("/v1/schedules", body))[0] == 200
    assert await at_last_slot(attacker, stack, "/v1/schedules", [body, body]) == [200, 429]
    await refused(attacker, "/v1/schedules", body, "schedules")
    assert (await attacker.get("/v1/schedules"))[1]["count"] == SCHEDULES
    for _ in range(SCHEDULES):
        assert (await victim.post("/v1/schedules", body))[0] == 200


async def send(sender: Api, to: Api, text: str) -> tuple[int, Any]:
    return await sender.post(
        "/v1/relay/send", {"to_agent": to.agent_id, "channel": "direct", "payload": text}
    )


async def test_unread_messages_per_inbox_and_per_sender(register, stack):
    """One sender fills its share of an inbox and is refused; other senders still reach it until the inbox is
    full; reading frees room. Nothing is dropped: the inbox holds every accepted message."""
    attacker, other, victim = await register("attacker"), await register("other"), await register("victim")
    for i in range(UNREAD_PER_SENDER - 1):
        assert (await send(attacker, victim, f"a{i}"))[0] == 200
    sends = await asyncio.gather(
        attacker.on(stack.url(0)).post("/v1/relay/send", {"to_agent": victim.agent_id, "payload": "x"}),
        attacker.on(stack.url(1)).post("/v1/relay/send", {"to_agent": victim.agent_id, "payload": "y"}),
    )
    assert sorted(status for status, _ in sends) == [200, 429]
    await refused(attacker, "/v1/relay/send", {"to_agent": victim.agent_id, "payload": "more"}, "inbox")
    for i in range(UNREAD - UNREAD_PER_SENDER):  # another sender still gets through, up to the inbox's bound
        assert (await send(other, victim, f"o{i}"))[0] == 200
    third = await register("third")
    await refused(third, "/v1/relay/send", {"to_agent": victim.agent_id, "payload": "full"}, "inbox")
    status, inbox = await victim.get("/v1/relay/inbox", params={"unread_only": "true"})
    assert status == 200 and len(inbox["messages"]) == UNREAD
    # the victim reads one: there is room again
    assert (await victim.post(f"/v1/relay/{inbox['messages'][0]['message_id']}/read"))[0] == 200
    assert (await send(third, victim, "now"))[0] == 200
    # the attacker's own inbox is untouched by all this
    assert (await send(victim, attacker, "hi"))[0] == 200


async def test_acknowledged_event_ids_are_bounded_per_agent(register):
    """Ids acknowledged one by one beyond the bound drop the oldest: its event shows again in a backlog read
    (the cursor acknowledges everything up to a point in one row)."""
    senders, reader = [await register("s1"), await register("s2")], await register("reader")
    for i in range(ACKED_IDS + 2):  # two senders: each stays within its unread share of the inbox
        assert (await send(senders[i % 2], reader, f"e{i}"))[0] == 200
    deadline = time.monotonic() + 10
    while len(events := (await reader.get("/v1/events"))[1]["events"]) < ACKED_IDS + 2:
        assert time.monotonic() < deadline, events
        await asyncio.sleep(0.2)
    ids = [e["event_id"] for e in events]
    for event_id in ids:  # one request each, oldest first
        assert (await reader.post("/v1/events/ack", {"event_ids": [event_id]}))[1] == {"acknowledged": 1}
    left = [e["event_id"] for e in (await reader.get("/v1/events"))[1]["events"]]
    assert left == ids[:2], (left, ids)  # the newest ACKED_IDS are kept, the two oldest dropped


async def test_a_publications_stored_size_is_bounded_by_its_audience(register):
    """A payload stored once per subscriber: a publication whose copies would exceed the bound is refused
    (413, nothing stored); a smaller one, or a smaller audience, passes."""
    publisher = await register("publisher")
    subscribers = [await register(f"sub{i}") for i in range(4)]
    for sub in subscribers:
        assert (await sub.post("/v1/pubsub/subscribe", {"channel": "quota.news"}))[0] == 200
    big = "x" * (FANOUT_BYTES // 4)
    status, body, _ = await publisher.request(
        "POST", "/v1/pubsub/publish", json={"channel": "quota.news", "payload": big}, envelope=True
    )
    assert status == 413 and body["error"] == "payload_too_large" and "subscribers" in body["detail"], body
    for sub in subscribers:
        assert (await sub.get("/v1/relay/inbox", params={"channel": "*"}))[1]["messages"] == []
    assert (await subscribers[0].post("/v1/pubsub/unsubscribe", {"channel": "quota.news"}))[0] == 200
    assert (await publisher.post("/v1/pubsub/publish", {"channel": "quota.news", "payload": big}))[0] == 200
    assert (await publisher.post("/v1/pubsub/publish", {"channel": "quota.news", "payload": "small"}))[
        0
    ] == 200


# ── sybils ──────────────────────────────────────────────────────────────────────────────────────────────────


async def test_registration_needs_the_operators_invite_key(stack, networks):
    session = networks()
    for headers in ({}, {"X-Invite-Key": "guess"}):
        status, body, _ = await Api(session, stack.base_url).request(
            "POST", "/v1/register", json={"name": "x"}, headers=headers, envelope=True
        )
        assert status == 403 and body["error"] == "forbidden" and "invite key" in body["detail"], body
    assert (await register_from(session, stack.base_url, "invited"))[0] == 200


async def test_registrations_are_limited_per_network(stack, networks):
    attacker, victim = networks(), networks()
    for i in range(PER_NETWORK - 1):
        assert (await register_from(attacker, stack.base_url, f"sybil{i}"))[0] == 200
    # the last registration of the hour, asked of both gateways at once: exactly one gets it
    results = await asyncio.gather(
        register_from(attacker, stack.url(0), "last-a"), register_from(attacker, stack.url(1), "last-b")
    )
    assert sorted(status for status, _, _ in results) == [200, 429]
    started = time.monotonic()
    status, body, headers = await register_from(attacker, stack.base_url, "one-more")
    assert status == 429 and body["error"] == "rate_limit_exceeded", body
    assert "registrations" in body["detail"] and body["message"] == body["detail"]
    # waiting helps: the body and Retry-After say when the oldest registration leaves the hour's window
    assert 3500 <= body["retry_after_seconds"] <= 3600 and headers["Retry-After"] == str(
        body["retry_after_seconds"]
    )
    # another network still registers, at once
    status, _, _ = await register_from(victim, stack.base_url, "victim")
    assert status == 200 and time.monotonic() - started < 2


async def agent_from(session: aiohttp.ClientSession, base: str, name: str) -> Api:
    status, body, _ = await register_from(session, base, name)
    assert status == 200, body
    return Api(session, base, body["api_key"], body["agent_id"])


async def balance(agent: Api) -> int:
    status, body = await agent.get("/v1/credits")
    assert status == 200, body
    return int(body["balance"])


async def trade(creator: Api, worker: Api, reward: int, rating: int) -> dict[str, Any]:
    """A task posted by `creator`, claimed and delivered by `worker`, accepted with `rating`."""
    status, task = await creator.post("/v1/marketplace/tasks", {"title": "farm", "reward_credits": reward})
    assert status == 200, task
    path = f"/v1/marketplace/tasks/{task['task_id']}"
    assert (await worker.post(f"{path}/claim"))[0] == 200
    assert (await worker.post(f"{path}/deliver", {"result": "done"}))[0] == 200
    status, reviewed = await creator.post(f"{path}/review", {"accept": True, "rating": rating})
    assert status == 200 and reviewed["status"] == "completed", reviewed
    return reviewed


async def test_sybils_cannot_farm_credits_or_reputation(stack, networks):
    """The reproduced attack: from one address, a main agent and its sybils (as many as the network may
    register) post tasks the main agent "completes", and rate it 5. Nothing moves: each reward goes back to
    its poster, no rating reaches the main agent's reputation. A genuine trade between two networks pays and
    rates as before."""
    home = networks()
    main = await agent_from(home, stack.base_url, "main")
    sybils = [await agent_from(home, stack.base_url, f"sybil{i}") for i in range(PER_NETWORK - 1)]
    assert (await register_from(home, stack.base_url, "one-too-many"))[0] == 429
    for sybil in sybils:
        assert (await trade(sybil, main, STARTING, 5))["credits_awarded"] == 0
        status, body = await sybil.post(
            "/v1/directory/collaborations",
            {"partner_agent": main.agent_id, "outcome": "success", "rating": 5},
        )
        assert status == 200, body
    assert await balance(main) == STARTING
    assert [await balance(s) for s in sybils] == [STARTING] * len(sybils)  # refunded, never lost
    # a genuine trade, creator and worker on networks of their own: paid and rated
    creator, worker = (
        await agent_from(networks(), stack.base_url, "c"),
        await agent_from(networks(), stack.base_url, "w"),
    )
    assert (await trade(creator, worker, 50, 4))["credits_awarded"] == 50
    assert await balance(worker) == STARTING + 50
    deadline = time.monotonic() + 10
    while (await worker.get("/v1/directory/me"))[1]["reputation_count"] != 1:
        assert time.monotonic() < deadline, "the genuine rating never reached the directory"
        await asyncio.sleep(0.2)
    me = (await main.get("/v1/directory/me"))[1]
    assert (me["reputation"], me["reputation_count"]) == (0, 0), me


async def test_frequent_schedules_are_few_per_agent(register):
    """Schedules firing more often than every 5 minutes (by default) are bounded on their own: the agent's
    second every-minute schedule is refused, an hourly one still passes."""
    agent, victim = await register("ticker"), await register("victim")
    every_minute = {"cron_expr": "* * * * *", "payload": "x"}
    assert (await agent.post("/v1/schedules", every_minute))[0] == 200
    await refused(agent, "/v1/schedules", every_minute, "schedules")
    await refused(
        agent, "/v1/schedules", {"cron_expr": "0,1 9 * * *", "payload": "x"}, "schedules"
    )  # 1 min apart
    assert (await agent.post("/v1/schedules", {"cron_expr": "0 * * * *", "payload": "x"}))[0] == 200
    assert (await victim.post("/v1/schedules", every_minute))[0] == 200

"""Pub/sub channels (MoltGrid 1.0's /v1/pubsub/*): the contract, NATS-style patterns, delivery of a publication
to every subscriber's inbox, sockets (on another gateway), event stream and webhooks, the NATS subject an
outside subscriber listens on, isolation, purge, and exactly one delivery per subscriber with two relay
replicas."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from typing import Any

import aiohttp
import nats
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.relay.channels import ChannelError, matches, parse_channel, parse_pattern
from shared import metrics
from shared.events import make_event
from shared.purge import request_agent_purge
from tests.conftest import Api
from tests.helpers import until
from tests.queue_fixtures import replicas


def unique(prefix: str) -> str:
    """Channel names are global: every test uses its own."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_patterns_follow_nats_token_semantics():
    assert (
        matches("news.*", "news.tech")
        and not matches("news.*", "news.tech.ai")
        and not matches("news.*", "news")
    )
    assert (
        matches("news.>", "news.tech") and matches("news.>", "news.tech.ai") and not matches("news.>", "news")
    )
    assert matches("*.tech", "news.tech") and matches(">", "a.b.c") and matches("a.b", "a.b")
    assert not matches("a.b", "a.bc") and not matches("a.*.c", "a.b.d")
    for bad in ("news..tech", "a.>.b", "a b", "", "x" * 129, "a.*x", "a.b*", "ü.x", ".a", "a."):
        with pytest.raises(ChannelError):
            parse_pattern(bad)
    for bad in ("news.*", "news.>", "a..b"):
        with pytest.raises(ChannelError):
            parse_channel(bad)
    assert parse_channel("news.tech.ai") == 3


async def test_subscribe_list_and_unsubscribe_contract(alice, bob):
    base = unique("news")
    tech, news = f"{base}.tech", f"{base}.*"
    status, first = await alice.post("/v1/pubsub/subscribe", {"channel": tech})
    assert status == 200 and (first["channel"], first["status"]) == (tech, "subscribed")
    assert first["subscribed_at"].endswith("+00:00")
    # subscribing twice is harmless: the same subscription, as it was
    assert await alice.post("/v1/pubsub/subscribe", {"channel": tech}) == (
        200,
        {"channel": tech, "status": "already_subscribed", "subscribed_at": first["subscribed_at"]},
    )
    assert (await alice.post("/v1/pubsub/subscribe", {"channel": news}))[1]["status"] == "subscribed"
    assert (await bob.post("/v1/pubsub/subscribe", {"channel": news}))[1]["status"] == "subscribed"
    status, subs = await alice.get("/v1/pubsub/subscriptions")
    assert status == 200 and subs["count"] == 2
    assert [s["channel"] for s in subs["subscriptions"]] == [tech, news]
    assert subs["subscriptions"][0]["subscribed_at"] == first["subscribed_at"]
    status, listing = await alice.get("/v1/pubsub/channels")
    counts = {c["channel"]: c["subscriber_count"] for c in listing["channels"]}
    assert (
        status == 200
        and counts[news] == 2
        and counts[tech] == 1
        and listing["count"] == len(listing["channels"])
    )
    # unsubscribing from a channel never joined is harmless too
    assert await bob.post("/v1/pubsub/unsubscribe", {"channel": tech}) == (
        200,
        {"channel": tech, "status": "not_subscribed"},
    )
    assert await alice.post("/v1/pubsub/unsubscribe", {"channel": tech}) == (
        200,
        {"channel": tech, "status": "unsubscribed"},
    )
    assert await alice.post("/v1/pubsub/unsubscribe", {"channel": tech}) == (
        200,
        {"channel": tech, "status": "not_subscribed"},
    )
    assert [s["channel"] for s in (await alice.get("/v1/pubsub/subscriptions"))[1]["subscriptions"]] == [news]
    assert [s["channel"] for s in (await bob.get("/v1/pubsub/subscriptions"))[1]["subscriptions"]] == [news]


async def messages_of(api: Api) -> int:
    """Messages the agent sent or received, from its own stats (GET /v1/stats)."""
    status, body = await api.get("/v1/stats")
    assert status == 200, body
    return body["messages_sent"] + body["messages_received"]


async def test_bad_input_is_refused_cleanly(alice):
    for channel in ("a b", "news..tech", "a.>.b", "semi;colon"):
        status, body = await alice.post("/v1/pubsub/subscribe", {"channel": channel})
        assert status == 400 and body["detail"].startswith("Invalid channel pattern"), body
    status, body = await alice.post("/v1/pubsub/subscribe", {"channel": "x" * 129})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "channel"]
    assert (await alice.post("/v1/pubsub/subscribe", {}))[0] == 422
    status, body = await alice.post("/v1/pubsub/publish", {"channel": "news.*", "payload": "x"})
    assert status == 400 and "concrete channel" in body["detail"]
    for payload, loc in ((None, ["body", "payload"]), ("x" * 50_001, ["body", "payload"])):
        status, body = await alice.post("/v1/pubsub/publish", {"channel": "n.t", "payload": payload})
        assert status == 422 and body["detail"][0]["loc"] == loc, body
    assert (await alice.post("/v1/pubsub/publish", {"channel": "n.t"}))[0] == 422
    assert (await alice.get("/v1/pubsub/channels", params={"limit": 0}))[0] == 422
    assert await messages_of(alice) == 0
    assert (await Api(alice.http, alice.base).get("/v1/pubsub/subscriptions"))[0] == 401


async def test_subscription_limit(register):
    agent = await register("many-subs")
    base = unique("lim")
    for i in range(50):
        assert (await agent.post("/v1/pubsub/subscribe", {"channel": f"{base}.{i}"}))[0] == 200
    status, body = await agent.post("/v1/pubsub/subscribe", {"channel": f"{base}.extra"})
    assert status == 429 and "Subscription limit" in body["detail"]
    assert (await agent.post("/v1/pubsub/subscribe", {"channel": f"{base}.7"}))[1][
        "status"
    ] == "already_subscribed"


async def test_a_publication_reaches_every_subscriber_every_way(stack, register, receiver, db):
    publisher, bob, carol, dave = [await register(name) for name in ("pub", "bob", "carol", "dave")]
    base = unique("ch")
    channel = f"{base}.x"
    await publisher.post("/v1/pubsub/subscribe", {"channel": f"{base}.*"})  # the publisher gets no copy
    await bob.post("/v1/pubsub/subscribe", {"channel": f"{base}.*"})
    for pattern in (f"{base}.>", channel, f"{base}.*"):  # several matching patterns: still one copy
        await carol.post("/v1/pubsub/subscribe", {"channel": pattern})
    await dave.post("/v1/pubsub/subscribe", {"channel": f"{base}.y"})  # does not match
    await bob.post("/v1/webhooks", {"url": receiver.url, "event_types": ["message.broadcast"], "secret": "s"})
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{stack.url(1)}/v1/relay/ws", params={"api_key": bob.key, "hello": "1"})
        assert (await ws.receive_json(timeout=5))["event"] == "connected"
        status, pub = await publisher.on(stack.url(0)).post(
            "/v1/pubsub/publish", {"channel": channel, "payload": {"headline": "x", "n": [1, 2]}}
        )
        assert status == 200 and pub["channel"] == channel and pub["subscribers_notified"] == 2
        assert pub["message_id"].startswith("pub_") and pub["created_at"].endswith("+00:00")
        frame = await ws.receive_json(timeout=5)
        await ws.close()
    assert frame["event"] == "message.broadcast" and frame["payload"] == {"headline": "x", "n": [1, 2]}
    assert (frame["publication_id"], frame["channel"], frame["from_agent"]) == (
        pub["message_id"],
        channel,
        publisher.agent_id,
    )

    inbox = (await bob.get("/v1/relay/inbox", params={"channel": f"pubsub:{channel}"}))[1]
    assert inbox["count"] == 1 and inbox["messages"][0]["message_id"] == frame["message_id"]
    assert inbox["messages"][0]["payload"] == {"headline": "x", "n": [1, 2]}
    assert inbox["messages"][0]["from_agent"] == publisher.agent_id
    everything = (await carol.get("/v1/relay/inbox", params={"channel": "*"}))[1]
    assert [m["channel"] for m in everything["messages"]] == [f"pubsub:{channel}"]
    for nobody in (publisher, dave):
        assert (await nobody.get("/v1/relay/inbox", params={"channel": "*"}))[1]["count"] == 0

    async def broadcast_events(agent: Api) -> list[dict[str, Any]]:
        body = (await agent.get("/v1/events", params={"after": 0, "types": "message.broadcast"}))[1]
        return body["events"]

    events = await until("bob's message.broadcast event", lambda: broadcast_events(bob))
    assert [e["data"]["message_id"] for e in events] == [frame["message_id"]]
    assert events[0]["data"]["publication_id"] == pub["message_id"] and events[0]["agent_id"] == bob.agent_id
    # the envelope (built in SQL for the fan-out) is every other event's; /v1/events adds the cursor and 1.0's names
    client_names = {"cursor", "event_id", "event_type", "payload", "created_at"}
    assert (
        set(events[0]) - client_names == set(make_event(bob.agent_id, "x", {})) and events[0]["version"] == 1
    )
    assert re.fullmatch(r"evt_[0-9a-f]{24}", events[0]["id"]) and re.fullmatch(
        r"msg_[0-9a-f]{16}", frame["message_id"]
    )
    assert events[0]["data"] == {
        "message_id": frame["message_id"],
        "publication_id": pub["message_id"],
        "from_agent": publisher.agent_id,
        "channel": channel,
    }
    assert len(await until("carol's event", lambda: broadcast_events(carol))) == 1
    await receiver.wait_for(1)
    hooked = orjson.loads(receiver.received[0][1])
    assert hooked["type"] == "message.broadcast" and hooked["data"]["message_id"] == frame["message_id"]
    assert (
        await db.fetchval("SELECT payload FROM relay.messages WHERE message_id = $1", frame["message_id"])
        != orjson.dumps({"headline": "x"}).decode()
    )
    assert (
        await db.fetchval("SELECT payload FROM relay.messages WHERE message_id = $1", frame["message_id"])
    ).startswith("ENC:")
    # an unsubscribed agent gets nothing more
    await bob.post("/v1/pubsub/unsubscribe", {"channel": f"{base}.*"})
    again = (await publisher.post("/v1/pubsub/publish", {"channel": channel, "payload": "second"}))[1]
    assert again["subscribers_notified"] == 1
    assert (await bob.get("/v1/relay/inbox", params={"channel": f"pubsub:{channel}"}))[1]["count"] == 1


async def test_an_outside_nats_subscriber_hears_the_channel(stack, alice):
    base = unique("ext")
    nc = await nats.connect(stack.infra.nats_url)
    try:
        heard: asyncio.Queue[Any] = asyncio.Queue()
        sub = await nc.subscribe(f"pubsub.{base}.*", cb=heard.put)  # the same pattern, as a NATS subscription
        await nc.flush()
        status, pub = await alice.post(
            "/v1/pubsub/publish", {"channel": f"{base}.alerts", "payload": [1, "two"]}
        )
        assert status == 200 and pub["subscribers_notified"] == 0  # nobody subscribed through MoltGrid
        msg = await asyncio.wait_for(heard.get(), 10)
        assert msg.subject == f"pubsub.{base}.alerts"
        body = orjson.loads(msg.data)
        assert (body["publication_id"], body["channel"], body["from_agent"], body["payload"]) == (
            pub["message_id"],
            f"{base}.alerts",
            alice.agent_id,
            [1, "two"],
        )
        await alice.post("/v1/pubsub/publish", {"channel": f"{base}.a.b", "payload": "deeper"})  # not `*`
        await alice.post("/v1/pubsub/publish", {"channel": f"{base}.c", "payload": "third"})
        assert orjson.loads((await asyncio.wait_for(heard.get(), 10)).data)["payload"] == "third"
        await sub.unsubscribe()
    finally:
        await nc.close()


async def test_subscriptions_are_private_and_purged_with_the_agent(stack, register):
    a, b = await register("sub-owner"), await register("sub-intruder")
    channel = unique("priv") + ".c"
    await a.post("/v1/pubsub/subscribe", {"channel": channel})
    assert (await b.get("/v1/pubsub/subscriptions", params={"agent_id": a.agent_id}))[1]["count"] == 0
    assert (await b.post("/v1/pubsub/unsubscribe", {"channel": channel, "agent_id": a.agent_id}))[1][
        "status"
    ] == ("not_subscribed")
    assert (await a.get("/v1/pubsub/subscriptions"))[1]["count"] == 1
    nc = await nats.connect(stack.infra.nats_url)
    try:
        await request_agent_purge(nc.jetstream(), a.agent_id)
    finally:
        await nc.close()

    async def gone() -> bool:  # the purge removes data, not the registration: a may still ask
        return (await a.get("/v1/pubsub/subscriptions"))[1]["count"] == 0

    await until("the purged agent's subscriptions to be gone", gone)


@pytest.mark.slow
async def test_exactly_one_delivery_per_subscriber_with_two_relay_replicas(stack, register, receiver):
    """Publications through both gateways, served by two relay replicas: every subscriber has exactly one
    message, one event and one webhook delivery per publication."""
    base = unique("twice")
    subscribers = [await register(f"s{i}") for i in range(12)]
    publishers = [await register("p0"), await register("p1")]
    for i, agent in enumerate(subscribers):
        await agent.post("/v1/pubsub/subscribe", {"channel": f"{base}.*" if i % 2 else f"{base}.>"})
    hooked = subscribers[0]
    await hooked.post("/v1/webhooks", {"url": receiver.url, "event_types": ["message.broadcast"]})
    async with replicas(stack, "relay", [1]):
        sends = [
            publishers[i % 2]
            .on(stack.url(i % 2))
            .post("/v1/pubsub/publish", {"channel": f"{base}.t{i % 3}", "payload": {"i": i}})
            for i in range(24)
        ]
        results = await asyncio.gather(*sends)
        assert all(status == 200 and body["subscribers_notified"] == 12 for status, body in results), results
        publication_ids = {body["message_id"] for _, body in results}
        for agent in subscribers:  # one message per publication in every inbox
            inbox = (
                await agent.get(
                    "/v1/relay/inbox", params={"channel": "*", "unread_only": "false", "limit": 100}
                )
            )[1]["messages"]
            assert Counter(m["payload"]["i"] for m in inbox) == Counter(range(24)), inbox
        assert await publishes_by_replica(stack) >= {"relay-0", "relay-1"}  # both replicas fanned out
        await receiver.wait_for(24, timeout=30)

    async def events_of(agent: Api) -> list[dict[str, Any]]:
        body = (
            await agent.get("/v1/events", params={"after": 0, "types": "message.broadcast", "limit": 100})
        )[1]
        return body["events"]

    for agent in subscribers[:3]:
        events = await until("24 events", lambda agent=agent: _at_least(events_of(agent), 24))
        assert sorted(e["data"]["publication_id"] for e in events) == sorted(publication_ids)
    await asyncio.sleep(1.0)  # no late duplicate
    assert len(receiver.received) == 24
    assert {orjson.loads(body)["data"]["publication_id"] for _, body in receiver.received} == publication_ids


async def _at_least(coro: Any, n: int) -> Any:
    items = await coro
    return items if len(items) >= n else None


async def publishes_by_replica(stack: Any) -> set[str]:
    """The relay replicas that have served a publish (from every process's metrics, scraped over NATS)."""
    nc = await nats.connect(stack.infra.nats_url)
    try:
        texts = await metrics.scrape_all(nc, wait=0.5)
    finally:
        await nc.close()
    return {
        sample.labels["instance"]
        for text in texts
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if sample.name == "moltgrid_operations_total"
        and sample.labels["op"] == "pubsub_publish"
        and sample.value > 0
    }

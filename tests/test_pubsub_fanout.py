"""A publication is stored once, whatever its audience: publishing writes one row for 1 subscriber or 40,
and each subscriber's copy (inbox, read mark, status, push frame, event) is derived from it. Row counts are
read from the schema on purpose (what publishing stores is the subject); everything else goes through the
routes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import nats

from services.relay.channels import candidates, matches
from shared.bus import Ctx, call
from shared.subjects import svc
from tests.conftest import Api
from tests.helpers import until


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_candidate_patterns_are_exactly_the_matching_ones():
    channel = "a.b.c"
    found = candidates(channel)
    assert found is not None and len(found) == len(set(found)) == 15
    assert all(matches(p, channel) for p in found)
    others = ["a.b", "a.b.c.d", "a.*", "b.>", "a.b.d", "*.*", "*.*.*.*", "a.c.>"]
    assert not any(p in found for p in others) and not any(matches(p, channel) for p in others)
    assert candidates(".".join("x" * 9)) is None  # too many tokens: the regexes decide


async def stored_rows(db: Any, publication_id: str) -> tuple[int, int, int]:
    """(publication rows, subscriber copies, outbox rows) a publication has in the relay schema."""
    return (
        await db.fetchval(
            "SELECT count(*) FROM relay.publications WHERE publication_id = $1", publication_id
        ),
        await db.fetchval("SELECT count(*) FROM relay.messages WHERE publication_id = $1", publication_id),
        await db.fetchval(
            "SELECT count(*) FROM relay.outbox WHERE body->'data'->>'publication_id' = $1", publication_id
        ),
    )


async def test_publishing_stores_one_row_for_any_audience(register, db):
    publisher = await register("fan-pub")
    base = unique("fan")
    few, many = [await register(f"few{i}") for i in range(1)], [await register(f"many{i}") for i in range(40)]
    for agent in few:
        await agent.post("/v1/pubsub/subscribe", {"channel": f"{base}.few"})
    for i, agent in enumerate(many):
        await agent.post("/v1/pubsub/subscribe", {"channel": f"{base}.many" if i % 2 else "*.many"})
    small = (await publisher.post("/v1/pubsub/publish", {"channel": f"{base}.few", "payload": 1}))[1]
    large = (await publisher.post("/v1/pubsub/publish", {"channel": f"{base}.many", "payload": 2}))[1]
    assert (small["subscribers_notified"], large["subscribers_notified"]) == (1, 40)
    assert (
        await stored_rows(db, small["message_id"]) == await stored_rows(db, large["message_id"]) == (1, 0, 0)
    )
    # a subscriber's read makes its own copy, and only its own
    inbox = (await many[0].get("/v1/relay/inbox", params={"channel": f"pubsub:{base}.many"}))[1]
    assert [m["payload"] for m in inbox["messages"]] == [2]
    assert await stored_rows(db, large["message_id"]) == (1, 1, 0)


async def test_a_subscriber_copy_answers_like_a_message(stack, register):
    publisher, reader, late = await register("fan-p"), await register("fan-r"), await register("fan-late")
    channel = unique("copy") + ".x"
    await reader.post("/v1/pubsub/subscribe", {"channel": channel})
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            f"{stack.url(0)}/v1/relay/ws", params={"api_key": reader.key, "hello": "1"}
        )
        assert (await ws.receive_json(timeout=5))["event"] == "connected"
        pub = (await publisher.post("/v1/pubsub/publish", {"channel": channel, "payload": {"k": "v"}}))[1]
        frame = await ws.receive_json(timeout=5)
        await ws.close()
    await late.post("/v1/pubsub/subscribe", {"channel": channel})  # after the publication: not for it
    message_id = frame["message_id"]
    # status and a read mark straight from the push frame's id, before any inbox read
    status, body = await reader.get(f"/v1/messages/{message_id}/status")
    assert status == 200 and (body["status"], body["channel"], body["from_agent"]) == (
        "delivered",
        f"pubsub:{channel}",
        publisher.agent_id,
    )
    assert body["created_at"] == pub["created_at"]
    assert (await reader.post(f"/v1/relay/{message_id}/read", {}))[0] == 200
    assert (await reader.get("/v1/relay/inbox", params={"channel": f"pubsub:{channel}"}))[1]["count"] == 0
    read = (await reader.get("/v1/relay/inbox", params={"channel": "*", "unread_only": "false"}))[1]
    assert [(m["message_id"], m["payload"]) for m in read["messages"]] == [(message_id, {"k": "v"})]
    assert read["messages"][0]["read_at"] is not None
    assert (await late.get("/v1/relay/inbox", params={"channel": "*"}))[1]["count"] == 0

    async def event_of(agent: Api) -> list[dict[str, Any]]:
        return (await agent.get("/v1/events", params={"after": 0, "types": "message.broadcast"}))[1]["events"]

    events = await until("the reader's event", lambda: event_of(reader))
    assert [e["data"]["message_id"] for e in events] == [message_id]
    await asyncio.sleep(0.5)
    assert await event_of(late) == []


async def test_what_a_subscription_brought_stays_after_unsubscribing(register):
    publisher, reader = await register("fan-p2"), await register("fan-r2")
    channel = unique("keep") + ".x"
    await reader.post("/v1/pubsub/subscribe", {"channel": channel})
    await publisher.post("/v1/pubsub/publish", {"channel": channel, "payload": "kept"})
    await reader.post("/v1/pubsub/unsubscribe", {"channel": channel})  # before ever reading
    await publisher.post("/v1/pubsub/publish", {"channel": channel, "payload": "not for the reader"})
    inbox = (await reader.get("/v1/relay/inbox", params={"channel": f"pubsub:{channel}"}))[1]
    assert [m["payload"] for m in inbox["messages"]] == ["kept"]
    stats = (await reader.get("/v1/stats"))[1]
    assert stats["messages_received"] == 1


async def test_copies_stored_before_the_change_stay_readable(register, db):
    """A subscriber's copy written the old way (a message row per subscriber) is read as it was."""
    publisher, reader = await register("fan-old-p"), await register("fan-old-r")
    channel = unique("old") + ".x"
    await reader.post("/v1/pubsub/subscribe", {"channel": channel})
    await db.execute(
        "INSERT INTO relay.messages (message_id, from_agent, to_agent, channel, payload, publication_id)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        "msg_" + uuid.uuid4().hex[:16],
        publisher.agent_id,
        reader.agent_id,
        f"pubsub:{channel}",
        '"old copy"',
        "pub_" + uuid.uuid4().hex[:16],
    )
    await publisher.post("/v1/pubsub/publish", {"channel": channel, "payload": "new"})
    inbox = (await reader.get("/v1/relay/inbox", params={"channel": f"pubsub:{channel}"}))[1]
    assert sorted(m["payload"] for m in inbox["messages"]) == ["new", "old copy"]


def test_a_frame_template_gives_orjsons_bytes_whatever_the_payload():
    from services.relay.broadcast import Template, hole
    from shared import envelope

    m, a = hole(), hole()
    hostile = {"text": 'é"\\\x00m', "marker_like": "\x00" + "0" * 32, "n": [1, None]}
    frame = Template({"message_id": m, "payload": hostile, "to_agent": a}, (m, a))
    assert frame.render('msg_"1', "agent_2") == envelope.dumps(
        {"message_id": 'msg_"1', "payload": hostile, "to_agent": "agent_2"}
    )


async def test_a_long_channel_reaches_its_subscribers_too(register):
    """Past 8 tokens the audience comes from the patterns' regexes instead of the candidate lookup."""
    publisher, wide, exact, other = [await register(n) for n in ("long-p", "long-w", "long-e", "long-o")]
    base = unique("long")
    channel = base + ".a.b.c.d.e.f.g.h"
    await wide.post("/v1/pubsub/subscribe", {"channel": f"{base}.*.>"})
    await exact.post("/v1/pubsub/subscribe", {"channel": channel})
    await other.post("/v1/pubsub/subscribe", {"channel": f"{base}.a.*"})
    pub = (await publisher.post("/v1/pubsub/publish", {"channel": channel, "payload": "deep"}))[1]
    assert pub["subscribers_notified"] == 2
    for agent, count in ((wide, 1), (exact, 1), (other, 0)):
        assert (await agent.get("/v1/relay/inbox", params={"channel": "*"}))[1]["count"] == count


async def test_counts_include_copies_not_yet_read(stack, register):
    """The relay's message count and the publisher's messages_sent count a copy per subscriber, written or
    not; a subscriber's messages_received counts its copy."""
    publisher, reader = await register("count-p"), await register("count-r")
    channel = unique("count") + ".x"
    await reader.post("/v1/pubsub/subscribe", {"channel": channel})
    nc = await nats.connect(stack.infra.nats_url)

    async def counts() -> tuple[int, int]:
        relayed = (await call(nc, svc("relay", "global_stats"), {}, timeout=10, ctx=Ctx())).unwrap()
        sent = (await publisher.get("/v1/stats"))[1]["messages_sent"]
        return relayed["messages_relayed"], sent

    try:
        relayed, sent = await counts()
        await publisher.post("/v1/pubsub/publish", {"channel": channel, "payload": 1})
        assert await counts() == (relayed + 1, sent + 1)
        assert (await reader.get("/v1/stats"))[1]["messages_received"] == 1  # writes the copy: still one
        assert await counts() == (relayed + 1, sent + 1)
    finally:
        await nc.close()

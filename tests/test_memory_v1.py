"""MoltGrid 1.0's memory features through the real stack (2 gateways, 2 memory replicas): versions and
compare-and-set, history, metadata, batches, visibility with cross-agent reads and their access log,
encryption at rest and purging of the new rows."""

from __future__ import annotations

import asyncio
import re

import nats
import orjson
import pytest

from shared.crypto import Cipher
from shared.errors import NotFound
from tests.conftest import TEST_ENCRYPTION_KEY
from tests.helpers import until
from tests.memory_ops import memory_op

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


async def test_set_answers_the_seed_fields_plus_visibility_and_version(alice):
    assert await alice.post("/v1/memory", {"key": "k", "value": "v1"}) == (
        200,
        {"status": "stored", "key": "k", "namespace": "default", "visibility": "private", "version": 1},
    )
    assert await alice.post("/v1/memory", {"key": "k", "value": "v2", "visibility": "public"}) == (
        200,
        {"status": "stored", "key": "k", "namespace": "default", "visibility": "public", "version": 2},
    )
    # a write without visibility keeps it; GET answers the seed's fields plus the version (the gateway's ETag)
    assert (await alice.post("/v1/memory", {"key": "k", "value": "v3"}))[1]["visibility"] == "public"
    status, body = await alice.get("/v1/memory/k")
    assert status == 200 and set(body) == {"key", "value", "namespace", "updated_at", "expires_at", "version"}
    assert (body["value"], body["version"]) == ("v3", 3)


async def test_every_read_and_write_of_an_entry_answers_its_version(alice, bob):
    """What the gateway sends as `ETag: <version>`, the number If-Match and expected_version take."""
    written = (await alice.post("/v1/memory", {"key": "e", "value": "1", "visibility": "public"}))[1]
    assert written["version"] == 1
    assert (await alice.get("/v1/memory/e"))[1]["version"] == 1
    assert (await alice.post("/v1/memory", {"key": "e", "value": "2"}, headers={"If-Match": "1"}))[1][
        "version"
    ] == 2
    assert (await alice.get("/v1/memory/e"))[1]["version"] == 2
    assert (await bob.get(f"/v1/agents/{alice.agent_id}/memory/e"))[1]["version"] == 2
    assert (await alice.get("/v1/memory/e/meta"))[1]["version"] == 2
    batch = (await alice.post("/v1/memory/batch", {"items": [{"key": "e", "value": "3"}]}))[1]
    assert batch["results"][0]["version"] == 3


async def test_history_and_meta(alice):
    for i in range(1, 4):
        assert (await alice.post("/v1/memory", {"key": "h", "value": f"v{i}", "namespace": "ns"}))[0] == 200
    status, body = await alice.get("/v1/memory/h/history", params={"namespace": "ns"})
    assert status == 200 and (body["key"], body["namespace"], body["count"]) == ("h", "ns", 3)
    assert [(e["version"], e["value"], e["changed_by"]) for e in body["history"]] == [
        (3, "v3", alice.agent_id),
        (2, "v2", alice.agent_id),
        (1, "v1", alice.agent_id),
    ]
    assert all(ISO_UTC.match(e["changed_at"]) for e in body["history"])
    status, body = await alice.get("/v1/memory/h/history", params={"namespace": "ns", "limit": 1})
    assert status == 200 and [e["version"] for e in body["history"]] == [3]
    assert (await alice.get("/v1/memory/h/history", params={"namespace": "ns", "limit": 51}))[0] == 422

    status, meta = await alice.get("/v1/memory/h/meta", params={"namespace": "ns"})
    assert status == 200
    assert (meta["key"], meta["namespace"], meta["writer"], meta["version"], meta["visibility"]) == (
        "h",
        "ns",
        alice.agent_id,
        3,
        "private",
    )
    assert (
        ISO_UTC.match(meta["created_at"])
        and meta["updated_at"] >= meta["created_at"]
        and meta["expires_at"] is None
    )
    # missing keys (and the default namespace, where h is not) answer 404 like GET
    for path in ("/v1/memory/h/meta", "/v1/memory/h/history", "/v1/memory/nope/meta"):
        assert await alice.get(path) == (404, {"detail": "Key not found or expired"})


async def test_history_is_bounded_and_goes_with_the_entry(alice):
    for i in range(55):
        await alice.post("/v1/memory", {"key": "long", "value": str(i)})
    body = (await alice.get("/v1/memory/long/history"))[1]
    assert body["count"] == 50 and body["history"][0]["version"] == 55 and body["history"][-1]["version"] == 6
    assert (await alice.delete("/v1/memory/long"))[0] == 200
    assert (await alice.get("/v1/memory/long/history"))[0] == 404
    # the key starts a new life at version 1
    assert (await alice.post("/v1/memory", {"key": "long", "value": "again"}))[1]["version"] == 1
    assert [e["value"] for e in (await alice.get("/v1/memory/long/history"))[1]["history"]] == ["again"]


async def test_compare_and_set(alice):
    # expected_version 0: create only
    assert (await alice.post("/v1/memory", {"key": "c", "value": "a", "expected_version": 0}))[1][
        "version"
    ] == 1
    assert await alice.post("/v1/memory", {"key": "c", "value": "b", "expected_version": 0}) == (
        409,
        {"detail": "Version mismatch: expected 0, current 1"},
    )
    assert (await alice.post("/v1/memory", {"key": "c", "value": "b", "expected_version": 1}))[1][
        "version"
    ] == 2
    assert await alice.post("/v1/memory", {"key": "c", "value": "stale", "expected_version": 1}) == (
        409,
        {"detail": "Version mismatch: expected 1, current 2"},
    )
    assert await alice.post("/v1/memory", {"key": "absent", "value": "x", "expected_version": 4}) == (
        409,
        {"detail": "Version mismatch: expected 4, current 0"},
    )
    # 1.0's If-Match header carries the same number (an ETag's quotes are accepted)
    status, body, _ = await alice.request(
        "POST", "/v1/memory", json={"key": "c", "value": "c"}, headers={"If-Match": '"2"'}
    )
    assert (status, body["version"]) == (200, 3)
    status, body, _ = await alice.request(
        "POST", "/v1/memory", json={"key": "c", "value": "d"}, headers={"If-Match": "2"}
    )
    assert (status, body) == (409, {"detail": "Version mismatch: expected 2, current 3"})
    status, body, _ = await alice.request(
        "POST", "/v1/memory", json={"key": "c", "value": "d"}, headers={"If-Match": "*"}
    )
    assert status == 422 and body["detail"][0]["msg"].endswith("If-Match must be a version number")
    assert (await alice.post("/v1/memory", {"key": "c", "value": "d", "expected_version": -1}))[0] == 422
    assert (await alice.get("/v1/memory/c"))[1]["value"] == "c"  # no refused write touched it


async def test_concurrent_writers_on_both_gateways_never_lose_an_update(alice, stack):
    """Ten writers who all saw version 1: exactly one wins. Then three writers increment a counter with
    read-modify-write under compare-and-set: no increment is lost."""
    gateways = [alice, alice.on(stack.url(1))]
    await alice.post("/v1/memory", {"key": "race", "value": "start"})
    answers = await asyncio.gather(
        *(
            gateways[i % 2].post("/v1/memory", {"key": "race", "value": f"w{i}", "expected_version": 1})
            for i in range(10)
        )
    )
    winners = [i for i, (status, _) in enumerate(answers) if status == 200]
    assert len(winners) == 1 and sorted(s for s, _ in answers) == [200] + [409] * 9
    assert (await alice.get("/v1/memory/race"))[1]["value"] == f"w{winners[0]}"
    assert [e["value"] for e in (await alice.get("/v1/memory/race/history"))[1]["history"]] == [
        f"w{winners[0]}",
        "start",
    ]

    await alice.post("/v1/memory", {"key": "counter", "value": "0"})

    async def increment(api, times: int) -> int:
        conflicts = 0
        for _ in range(times):
            while True:
                meta = (await api.get("/v1/memory/counter/meta"))[1]
                value = int((await api.get("/v1/memory/counter"))[1]["value"])
                status, _ = await api.post(
                    "/v1/memory",
                    {"key": "counter", "value": str(value + 1), "expected_version": meta["version"]},
                )
                if status == 200:
                    break
                assert status == 409
                conflicts += 1
        return conflicts

    await asyncio.gather(*(increment(gateways[i % 2], 3) for i in range(3)))
    assert (await alice.get("/v1/memory/counter"))[1]["value"] == "9"
    assert (await alice.get("/v1/memory/counter/meta"))[1]["version"] == 10


async def test_batch_reports_each_item(alice):
    await alice.post("/v1/memory", {"key": "b-exists", "value": "x"})
    status, body = await alice.post(
        "/v1/memory/batch",
        {
            "items": [
                {"key": "b1", "value": "1"},
                {
                    "key": "b2",
                    "value": "2",
                    "namespace": "other",
                    "ttl_seconds": 3600,
                    "visibility": "public",
                },
                {"key": "b-exists", "value": "y", "expected_version": 0},
                {"key": "bad", "value": "z", "ttl_seconds": 1},
                {"value": "no key"},
                "not an object",
            ]
        },
    )
    assert status == 200 and (body["total"], body["succeeded"], body["failed"]) == (6, 2, 4)
    r = body["results"]
    assert r[0] == {
        "key": "b1",
        "success": True,
        "status": "stored",
        "error": None,
        "namespace": "default",
        "version": 1,
        "visibility": "private",
    }
    assert (r[1]["success"], r[1]["namespace"], r[1]["visibility"]) == (True, "other", "public")
    assert (r[2]["key"], r[2]["success"], r[2]["status"], r[2]["error"]) == (
        "b-exists",
        False,
        "conflict",
        "Version mismatch: expected 0, current 1",
    )
    assert (r[3]["key"], r[3]["status"]) == ("bad", "invalid") and "ttl_seconds" in r[3]["error"]
    assert (r[4]["key"], r[4]["status"]) == ("", "invalid") and "key" in r[4]["error"]
    assert (r[5]["success"], r[5]["status"]) == (False, "invalid")
    assert (await alice.get("/v1/memory/b2", params={"namespace": "other"}))[1]["value"] == "2"
    assert (await alice.get("/v1/memory/bad"))[0] == 404 and (await alice.get("/v1/memory/b-exists"))[1][
        "value"
    ] == "x"
    # 1.0's request shape errors: no items, too many, wrong field name
    assert (await alice.post("/v1/memory/batch", {"items": []}))[0] == 422
    assert (await alice.post("/v1/memory/batch", {"items": [{"key": "k", "value": "v"}] * 101}))[0] == 422
    status, body = await alice.post(
        "/v1/memory/batch", {"operations": [{"op": "set", "key": "b3", "value": "3"}]}
    )
    assert status == 422 and body["detail"][0]["loc"] == ["body", "items"]


async def test_visibility_and_cross_agent_reads(register):
    owner, friend, stranger = await register("owner"), await register("friend"), await register("stranger")
    hidden = (404, {"detail": "Key not found or expired"})
    assert (await owner.post("/v1/memory", {"key": "pub", "value": "hello", "visibility": "public"}))[
        0
    ] == 200
    assert (await owner.post("/v1/memory", {"key": "priv", "value": "secret"}))[0] == 200
    status, body = await stranger.get(f"/v1/agents/{owner.agent_id}/memory/pub")
    assert status == 200 and set(body) == {
        "key",
        "value",
        "namespace",
        "visibility",
        "updated_at",
        "expires_at",
        "version",
    }
    assert (body["value"], body["visibility"], body["namespace"]) == ("hello", "public", "default")
    # private: as hidden as a key that does not exist, or an agent that does not exist
    assert await friend.get(f"/v1/agents/{owner.agent_id}/memory/priv") == hidden
    assert await friend.get(f"/v1/agents/{owner.agent_id}/memory/never-written") == hidden
    assert await friend.get("/v1/agents/agent_000000000000/memory/priv") == hidden

    assert await owner.patch(
        "/v1/memory/priv/visibility", {"visibility": "shared", "shared_agents": [friend.agent_id]}
    ) == (200, {"status": "updated", "key": "priv", "visibility": "shared", "namespace": "default"})
    status, body = await friend.get(f"/v1/agents/{owner.agent_id}/memory/priv")
    assert status == 200 and (body["value"], body["visibility"]) == ("secret", "shared")
    assert await stranger.get(f"/v1/agents/{owner.agent_id}/memory/priv") == hidden
    meta = (await owner.get("/v1/memory/priv/meta"))[1]
    assert (meta["visibility"], meta["shared_agents"], meta["version"]) == ("shared", [friend.agent_id], 1)
    # the owner reads its own entry this way too; a namespace is part of the address
    assert (await owner.get(f"/v1/agents/{owner.agent_id}/memory/priv"))[0] == 200
    assert await friend.get(f"/v1/agents/{owner.agent_id}/memory/priv", params={"namespace": "x"}) == hidden

    # set with visibility on POST; back to private hides it again
    assert (await owner.post("/v1/memory", {"key": "priv", "value": "secret2", "visibility": "private"}))[
        0
    ] == 200
    assert await friend.get(f"/v1/agents/{owner.agent_id}/memory/priv") == hidden
    assert (
        await owner.post(
            "/v1/memory",
            {
                "key": "team",
                "value": "t",
                "namespace": "ns",
                "visibility": "shared",
                "shared_agents": [stranger.agent_id],
            },
        )
    )[0] == 200
    status, body = await stranger.get(f"/v1/agents/{owner.agent_id}/memory/team", params={"namespace": "ns"})
    assert status == 200 and body["value"] == "t"

    # changing visibility of what does not exist, or with bad input
    assert await owner.patch("/v1/memory/nope/visibility", {"visibility": "public"}) == hidden
    assert (
        await friend.patch("/v1/memory/pub/visibility", {"visibility": "private"}) == hidden
    )  # not friend's
    status, body = await owner.patch("/v1/memory/pub/visibility", {"visibility": "everyone"})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "visibility"]
    assert (
        await owner.patch("/v1/memory/pub/visibility", {"visibility": "shared", "shared_agents": ["bad id!"]})
    )[0] == 422

    # the owner's access log: who read what, granted or not; readers see only their own log (empty)
    status, log = await owner.get("/v1/memory-access-log")
    assert status == 200
    seen = [(r["reader"], r["key"], r["granted"]) for r in log["reads"]]
    assert (stranger.agent_id, "pub", True) in seen and (friend.agent_id, "priv", False) in seen
    assert (friend.agent_id, "priv", True) in seen and (stranger.agent_id, "priv", False) in seen
    assert all(r["reader"] != owner.agent_id for r in log["reads"])  # own reads are not logged
    assert all(ISO_UTC.match(r["read_at"]) for r in log["reads"])
    status, only = await owner.get("/v1/memory-access-log", params={"key": "priv", "reader": friend.agent_id})
    assert status == 200 and {(r["reader"], r["key"]) for r in only["reads"]} == {(friend.agent_id, "priv")}
    assert (await friend.get("/v1/memory-access-log"))[1] == {"reads": [], "count": 0}


async def test_new_values_are_encrypted_at_rest(alice, db):
    await alice.post("/v1/memory", {"key": "enc", "value": "plain-one"})
    await alice.post("/v1/memory", {"key": "enc", "value": "plain-two"})
    rows = await db.fetch("SELECT value FROM memory.history WHERE agent_id = $1", alice.agent_id)
    cipher = Cipher([TEST_ENCRYPTION_KEY])
    assert len(rows) == 2 and all(r["value"].startswith("ENC:") for r in rows)
    assert sorted(cipher.decrypt(r["value"]) for r in rows) == ["plain-one", "plain-two"]


async def test_purge_removes_history_and_access_log(stack, admin, register):
    doomed, reader = await register("doomed-v1"), await register("reader-v1")
    await doomed.post("/v1/memory", {"key": "k", "value": "v", "visibility": "public"})
    await reader.post("/v1/memory", {"key": "mine", "value": "v", "visibility": "public"})
    assert (await reader.get(f"/v1/agents/{doomed.agent_id}/memory/k"))[0] == 200
    assert (await doomed.get(f"/v1/agents/{reader.agent_id}/memory/mine"))[0] == 200
    async with admin.delete(stack.url(0) + f"/admin/api/agents/{doomed.agent_id}") as r:
        assert r.status == 200

    async def purged() -> bool:  # as the purged agent, over NATS: the gateway no longer admits it
        try:
            await memory_op(stack, "history", {"key": "k"}, agent_id=doomed.agent_id)
            return False
        except NotFound:
            pass
        own_log = await memory_op(stack, "access_log", {}, agent_id=doomed.agent_id)
        reads_by_doomed = (await reader.get("/v1/memory-access-log"))[1]["reads"]
        return own_log["count"] == 0 and not reads_by_doomed

    await until("history and access log purged", purged)
    assert (await reader.get("/v1/memory/mine/history"))[1]["count"] == 1


def _client_methods(base: str) -> None:
    from moltgrid_client import MoltGridClient, MoltGridError

    owner = MoltGridClient.register(base, "client-owner")
    reader = MoltGridClient.register(base, "client-reader")
    try:
        assert owner.memory_set("k", "v1", expected_version=0)["version"] == 1
        with pytest.raises(MoltGridError) as err:
            owner.memory_set("k", "v2", expected_version=0)
        assert err.value.status == 409
        owner.memory_set("k", "v2", visibility="shared", shared_agents=[reader.agent_id], expected_version=1)
        assert [e["value"] for e in owner.memory_history("k")["history"]] == ["v2", "v1"]
        assert owner.memory_meta("k")["shared_agents"] == [reader.agent_id]
        assert reader.memory_read_agent(owner.agent_id, "k")["value"] == "v2"
        assert owner.memory_set_visibility("k", "private")["visibility"] == "private"
        with pytest.raises(MoltGridError) as err:
            reader.memory_read_agent(owner.agent_id, "k")
        assert err.value.status == 404
        log = owner.memory_access_log(key="k")["reads"]
        assert [(r["reader"], r["granted"]) for r in log] == [
            (reader.agent_id, False),
            (reader.agent_id, True),
        ]
        assert owner.memory_batch([{"key": "b", "value": "1"}])["succeeded"] == 1

        sid = owner.session_create(title="client", max_tokens=2000)["session_id"]
        assert owner.session_append(sid, "user", "remember the harbour code")["message_count"] == 1
        assert owner.tiered_store_event(sid, {"code": 42}, persist=True, note_key="code")["persisted"] is True
        assert owner.session_get(sid)["message_count"] == 2
        assert [s["session_id"] for s in owner.session_list()["sessions"]] == [sid]
        assert owner.session_summarize(sid)["summarizer"] == "none"
        hits = owner.tiered_recall("harbour code", tiers=["short"], k=3)["results"]
        assert [(h["key"], h["score"]) for h in hits] == [(f"{sid}#1", 1.0), (f"{sid}#2", 0.5)]
        assert owner.tiered_summarize(sid, namespace="archive")["vector_namespace"] == "archive"
        assert owner.session_delete(sid)["status"] == "deleted"
    finally:
        owner.close()
        reader.close()


async def test_our_client_methods_for_the_new_routes(stack):
    await asyncio.to_thread(_client_methods, stack.url(1))


async def test_each_write_and_delete_publishes_a_memory_changed_event_without_the_value(alice, stack):
    """Written in the same transaction as the change (memory's outbox), published on the documented subject;
    a refused compare-and-set and a visibility change publish nothing, and no event carries the value."""
    nc = await nats.connect(stack.infra.nats_url)
    try:
        sub = await nc.jetstream().subscribe(f"events.{alice.agent_id}.memory.changed", ordered_consumer=True)
        assert (await alice.post("/v1/memory", {"key": "k", "value": "secret-1"}))[0] == 200
        assert (await alice.post("/v1/memory", {"key": "k", "value": "secret-2", "namespace": "n"}))[0] == 200
        assert (await alice.post("/v1/memory", {"key": "k", "value": "lost", "expected_version": 7}))[
            0
        ] == 409
        assert (await alice.patch("/v1/memory/k/visibility", {"visibility": "public"}))[0] == 200
        assert (await alice.post("/v1/memory", {"key": "k", "value": "secret-3"}))[0] == 200
        batch = {"items": [{"key": "b1", "value": "secret-4"}, {"key": "b2"}]}
        assert (await alice.post("/v1/memory/batch", batch))[1]["succeeded"] == 1
        assert (await alice.delete("/v1/memory/k"))[0] == 200
        events = [orjson.loads((await sub.next_msg(timeout=10)).data) for _ in range(5)]
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=1)
    finally:
        await nc.close()
    assert {(e["type"], e["agent_id"], e["version"]) for e in events} == {
        ("memory.changed", alice.agent_id, 1)
    }
    assert [e["data"] for e in events] == [
        {"key": "k", "namespace": "default", "action": "set", "version": 1},
        {"key": "k", "namespace": "n", "action": "set", "version": 1},
        {"key": "k", "namespace": "default", "action": "set", "version": 2},
        {"key": "b1", "namespace": "default", "action": "set", "version": 1},
        {"key": "k", "namespace": "default", "action": "delete", "version": 2},
    ]
    assert not any("secret" in orjson.dumps(e).decode() for e in events)

"""Job queue through the gateway: the contract's exchanges, leases, retries, dead letters, replicas, events."""

from __future__ import annotations

import asyncio
import random
import re
from datetime import UTC, datetime, timedelta

import nats
import orjson
import pytest

from services.queue.retry import backoff_seconds
from shared.bus import Ctx, call
from shared.subjects import svc
from tests.queue_fixtures import replicas

JOB_ID = r"^job_[0-9a-f]{16}$"
ISO_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$"


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


async def poll(fn, until, timeout: float = 8.0, every: float = 0.1):
    """Call fn until until(result) holds; returns the last result."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        out = await fn()
        if until(out) or asyncio.get_running_loop().time() > deadline:
            return out
        await asyncio.sleep(every)


async def test_contract_exchanges(alice, bob):
    status, body = await alice.post("/v1/queue/submit", {"payload": '{"task": "scrape"}', "priority": 8})
    assert status == 200 and set(body) == {"job_id", "status", "queue_name", "max_attempts"}
    assert (
        re.match(JOB_ID, body["job_id"]) and body["status"] == "pending" and body["queue_name"] == "default"
    )
    job = body["job_id"]
    assert await alice.post("/v1/queue/submit", {"payload": "low", "queue_name": "work", "priority": 1}) == (
        200,
        {
            "job_id": (await alice.get("/v1/queue", params={"queue_name": "work"}))[1]["jobs"][0]["job_id"],
            "status": "pending",
            "queue_name": "work",
            "max_attempts": 3,
        },
    )
    assert await alice.post("/v1/queue/submit", {"payload": "x", "priority": 11}) == (
        422,
        {
            "detail": [
                {
                    "type": "less_than_equal",
                    "loc": ["body", "priority"],
                    "msg": "Input should be less than or equal to 10",
                    "input": 11,
                    "ctx": {"le": 10},
                }
            ]
        },
    )

    status, body = await alice.get(f"/v1/queue/{job}")
    assert status == 200
    assert {
        k: body[k]
        for k in ("job_id", "status", "queue_name", "priority", "started_at", "completed_at", "result")
    } == {
        "job_id": job,
        "status": "pending",
        "queue_name": "default",
        "priority": 8,
        "started_at": None,
        "completed_at": None,
        "result": None,
    }
    assert re.match(ISO_UTC, body["created_at"])
    assert await bob.get(f"/v1/queue/{job}") == (404, {"detail": "Job not found"})

    status, listing = await alice.get("/v1/queue")
    assert status == 200 and listing["queue_name"] == "default" and listing["count"] == 1
    assert listing["jobs"] == [
        {
            "job_id": job,
            "status": "pending",
            "priority": 8,
            "created_at": body["created_at"],
            "completed_at": None,
        }
    ]
    status, listing = await alice.get(
        "/v1/queue", params={"status": "pending", "queue_name": "work", "limit": 10}
    )
    assert (
        status == 200 and listing["queue_name"] == "work" and [j["priority"] for j in listing["jobs"]] == [1]
    )

    status, claimed = await alice.post("/v1/queue/claim")
    assert status == 200 and (claimed["job_id"], claimed["payload"], claimed["priority"]) == (
        job,
        '{"task": "scrape"}',
        8,
    )
    assert await alice.post(f"/v1/queue/{job}/complete", params={"result": "done"}) == (
        200,
        {"job_id": job, "status": "completed"},
    )
    status, body = await alice.get(f"/v1/queue/{job}")
    assert body["status"] == "completed" and body["result"] == "done"
    assert re.match(ISO_UTC, body["started_at"]) and re.match(ISO_UTC, body["completed_at"])
    assert await alice.post("/v1/queue/job_nope/complete", params={"result": "x"}) == (
        404,
        {"detail": "Job not found or not in processing state"},
    )
    assert await alice.post("/v1/queue/claim") == (200, {"status": "empty", "queue_name": "default"})
    assert (await alice.get("/v1/queue", params={"status": "completed"}))[1]["count"] == 1


@pytest.mark.parametrize("payload", [{"task": "scrape", "n": [1, 2.5, None]}, ["a", 1], 42, "plain ✓", True])
async def test_any_json_payload_round_trips(alice, payload):
    status, body = await alice.post("/v1/queue/submit", {"payload": payload, "queue_name": "any"})
    assert status == 200
    status, claimed = await alice.post("/v1/queue/claim", params={"queue_name": "any"})
    assert claimed["payload"] == payload
    result = {"ok": True, "items": [payload]}
    assert (await alice.post(f"/v1/queue/{body['job_id']}/complete", {"result": result}))[0] == 200
    assert (await alice.get(f"/v1/queue/{body['job_id']}"))[1]["result"] == result


async def test_payload_encrypted_at_rest(alice, db):
    _, body = await alice.post("/v1/queue/submit", {"payload": {"secret": "hunter2"}})
    stored = await db.fetchval("SELECT payload FROM queue.jobs WHERE job_id = $1", body["job_id"])
    assert stored.startswith("ENC:") and "hunter2" not in stored


async def test_bad_input_is_4xx(alice):
    assert (await alice.post("/v1/queue/submit", {"payload": "x" * 100_000}))[0] == 200
    status, body = await alice.post("/v1/queue/submit", {"payload": "x" * 100_001})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "payload"]
    assert (await alice.post("/v1/queue/submit", {"payload": {"big": "x" * 100_000}}))[0] == 422
    assert (await alice.post("/v1/queue/submit", {}))[0] == 422
    assert (await alice.post("/v1/queue/submit", {"payload": None}))[0] == 422
    assert (await alice.post("/v1/queue/submit", {"payload": "x", "priority": -1}))[0] == 422
    assert (await alice.post("/v1/queue/submit", {"payload": "x", "queue_name": "q" * 65}))[0] == 422
    assert (await alice.post("/v1/queue/submit", {"payload": "x", "max_attempts": 0}))[0] == 422
    assert (await alice.post("/v1/queue/submit", {"payload": "x", "run_at": "yesterday"}))[0] == 422
    assert (await alice.post("/v1/queue/submit", {"payload": "bad\u0000"}))[0] == 422
    assert (await alice.get("/v1/queue", params={"limit": 101}))[0] == 422
    assert (await alice.get("/v1/queue", params={"status": "nope"}))[0] == 422
    assert (await alice.post("/v1/queue/claim", params={"visibility_timeout": 0}))[0] == 422
    assert (await alice.post("/v1/queue/job_x/complete", params={"attempt": "one"}))[0] == 422


async def test_priority_then_fifo(alice):
    q = {"queue_name": "order"}
    ids = {}
    for name, prio in [("a", 1), ("b", 5), ("c", 5), ("d", 0), ("e", 10)]:
        ids[(await alice.post("/v1/queue/submit", {"payload": name, "priority": prio, **q}))[1]["job_id"]] = (
            name
        )
    got = [(await alice.post("/v1/queue/claim", params=q))[1]["payload"] for _ in range(5)]
    assert got == ["e", "b", "c", "a", "d"]
    assert (await alice.post("/v1/queue/claim", params=q))[1] == {"status": "empty", "queue_name": "order"}


async def test_isolation_between_agents_and_queues(alice, bob):
    _, job = await alice.post("/v1/queue/submit", {"payload": "mine", "queue_name": "work"})
    assert await bob.post("/v1/queue/claim", params={"queue_name": "work"}) == (
        200,
        {"status": "empty", "queue_name": "work"},
    )
    assert (await bob.get("/v1/queue", params={"queue_name": "work"}))[1]["count"] == 0
    assert (await alice.post("/v1/queue/claim", params={"queue_name": "other"}))[1]["status"] == "empty"
    _, claimed = await alice.post("/v1/queue/claim", params={"queue_name": "work"})
    assert claimed["job_id"] == job["job_id"]
    jid = job["job_id"]
    assert (await bob.post(f"/v1/queue/{jid}/complete", params={"result": "stolen"}))[0] == 404
    assert (await bob.post(f"/v1/queue/{jid}/fail", {"error": "x"}))[0] == 404
    assert (await bob.post(f"/v1/queue/{jid}/heartbeat", {}))[0] == 404
    assert (await bob.post(f"/v1/queue/{jid}/replay"))[0] == 404
    assert (await bob.get(f"/v1/queue/{jid}"))[0] == 404
    assert (await alice.post(f"/v1/queue/{jid}/complete", params={"result": "ok"}))[0] == 200


async def test_two_replicas_200_claims_on_100_jobs(stack, register):
    """Straight to the queue service over NATS (200 HTTP requests would hit the per-agent rate limit)."""
    owner = await register("worker")
    ctx = Ctx(agent_id=owner.agent_id)
    q = {"queue_name": "race"}
    nc = await nats.connect(stack.infra.nats_url)
    try:
        await asyncio.gather(
            *(call(nc, svc("queue", "submit"), {"payload": i, **q}, timeout=5, ctx=ctx) for i in range(100))
        )
        async with replicas(stack, "queue", [11]):
            replies = await asyncio.gather(
                *(call(nc, svc("queue", "claim"), q, timeout=5, ctx=ctx) for _ in range(200))
            )
    finally:
        await nc.close()
    bodies = [r.unwrap() for r in replies]
    claimed = [body["payload"] for body in bodies if "job_id" in body]
    assert sorted(claimed) == list(range(100))  # every job exactly once
    assert sum(1 for body in bodies if body.get("status") == "empty") == 100
    _, stats = await owner.get("/v1/queue/stats", params=q)
    assert stats["queues"][0]["processing"] == 100


async def test_lapsed_lease_is_reclaimed_and_late_complete_refused(alice):
    q = {"queue_name": "lease"}
    _, job = await alice.post(
        "/v1/queue/submit", {"payload": "p", "visibility_timeout": 1, "max_attempts": 5, **q}
    )
    _, first = await alice.post("/v1/queue/claim", params=q)
    assert first["attempt"] == 1 and first["job_id"] == job["job_id"]
    second = await poll(lambda: alice.post("/v1/queue/claim", params=q), lambda r: "job_id" in r[1])
    assert second[1]["job_id"] == job["job_id"] and second[1]["attempt"] == 2
    jid = job["job_id"]
    status, body = await alice.post(f"/v1/queue/{jid}/complete", params={"result": "late", "attempt": 1})
    assert status == 409 and "Lease lost" in body["detail"]
    assert (await alice.post(f"/v1/queue/{jid}/heartbeat", {"attempt": 1}))[0] == 409
    assert (await alice.post(f"/v1/queue/{jid}/fail", {"attempt": 1, "error": "late"}))[0] == 409
    assert (await alice.post(f"/v1/queue/{jid}/complete", params={"result": "ok", "attempt": 2}))[0] == 200
    assert (await alice.post(f"/v1/queue/{jid}/complete", params={"result": "again", "attempt": 2}))[0] == 409
    _, final = await alice.get(f"/v1/queue/{jid}")
    assert final["result"] == "ok" and final["attempts"] == 2


async def test_heartbeat_extends_the_lease_and_keeps_progress(alice):
    q = {"queue_name": "hb"}
    _, job = await alice.post("/v1/queue/submit", {"payload": "p", **q})
    _, _claimed = await alice.post("/v1/queue/claim", params={"visibility_timeout": 1, **q})
    jid = job["job_id"]
    for step in range(3):
        await asyncio.sleep(0.6)
        status, hb = await alice.post(
            f"/v1/queue/{jid}/heartbeat", {"attempt": 1, "extend_seconds": 1, "progress": {"step": step}}
        )
        assert status == 200 and hb["attempt"] == 1
    _, body = await alice.get(f"/v1/queue/{jid}")
    assert body["status"] == "processing" and body["progress"] == {"step": 2}
    assert (await alice.post(f"/v1/queue/{jid}/complete", params={"attempt": 1}))[0] == 200
    await asyncio.sleep(1.1)  # an expired lease that nobody took: the late complete is refused, not applied
    _, job2 = await alice.post("/v1/queue/submit", {"payload": "p2", "max_attempts": 1, **q})
    await alice.post("/v1/queue/claim", params={"visibility_timeout": 1, **q})
    await asyncio.sleep(1.1)
    assert (await alice.post(f"/v1/queue/{job2['job_id']}/complete"))[0] in (404, 409)


async def test_retries_backoff_dead_letter_and_replay(alice):
    q = {"queue_name": "flaky"}
    _, job = await alice.post(
        "/v1/queue/submit",
        {"payload": "p", "max_attempts": 3, "backoff_base_seconds": 0.2, "backoff_max_seconds": 0.3, **q},
    )
    jid = job["job_id"]
    for attempt, cap in [(1, 0.2), (2, 0.3)]:
        _, claimed = await poll(lambda: alice.post("/v1/queue/claim", params=q), lambda r: "job_id" in r[1])
        assert claimed["attempt"] == attempt
        before = datetime.now(UTC)
        status, failed = await alice.post(
            f"/v1/queue/{jid}/fail", {"error": f"boom {attempt}", "attempt": attempt}
        )
        assert status == 200 and failed["status"] == "pending_retry"
        assert failed["next_retry_at"] == failed["retry_at"] and failed["attempts"] == attempt
        assert (await alice.get(f"/v1/queue/{jid}"))[1]["status"] == "pending"
        delay = (parse(failed["retry_at"]) - before).total_seconds()
        assert -0.05 <= delay <= cap + 0.1  # full jitter: uniform in [0, min(max, base·2^(n-1))]
        assert (await alice.get(f"/v1/queue/{jid}"))[1]["last_error"] == f"boom {attempt}"
    _, claimed = await poll(lambda: alice.post("/v1/queue/claim", params=q), lambda r: "job_id" in r[1])
    status, failed = await alice.post(f"/v1/queue/{jid}/fail", {"error": "final", "attempt": 3})
    assert (status, failed["status"], failed["retry_at"]) == (200, "dead_lettered", None)
    _, body = await alice.get(f"/v1/queue/{jid}")
    assert body["status"] == "dead_letter" and body["dead_lettered_at"] and body["last_error"] == "final"
    assert (await alice.post("/v1/queue/claim", params=q))[1]["status"] == "empty"
    _, dead = await alice.get("/v1/queue/dead-letters", params=q)
    assert [d["job_id"] for d in dead["jobs"]] == [jid] and dead["jobs"][0]["attempts"] == 3

    status, replayed = await alice.post(f"/v1/queue/{jid}/replay")
    assert status == 200 and {k: replayed[k] for k in ("job_id", "status")} == {
        "job_id": jid,
        "status": "pending",
    }
    assert re.match(ISO_UTC, replayed["replayed_at"])
    assert (await alice.post(f"/v1/queue/{jid}/replay"))[0] == 409  # not a dead letter any more
    _, claimed = await alice.post("/v1/queue/claim", params=q)
    assert claimed["job_id"] == jid and claimed["attempt"] == 1


async def test_non_retryable_replay_many_and_purge(alice):
    q = {"queue_name": "poison"}
    ids = []
    for i in range(3):
        _, job = await alice.post("/v1/queue/submit", {"payload": i, **q})
        await alice.post("/v1/queue/claim", params=q)
        _status, failed = await alice.post(
            f"/v1/queue/{job['job_id']}/fail", {"error": "bad", "retryable": False}
        )
        assert failed["status"] == "dead_lettered"
        ids.append(job["job_id"])
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await alice.post("/v1/queue/dead-letters/replay", {"since": future, **q}))[1]["replayed"] == 0
    assert (await alice.post("/v1/queue/dead-letters/replay", {"queue_name": "elsewhere"}))[1][
        "replayed"
    ] == 0
    assert await alice.post("/v1/queue/dead-letters/replay", {"limit": 2, **q}) == (
        200,
        {"status": "replayed", "replayed": 2},
    )
    assert (await alice.get("/v1/queue/dead-letters", params=q))[1]["count"] == 1
    assert await alice.delete("/v1/queue/dead-letters", params=q) == (200, {"status": "purged", "purged": 1})
    assert (await alice.get("/v1/queue/dead-letters", params=q))[1]["count"] == 0
    assert (await alice.get("/v1/queue", params={"status": "pending", **q}))[1]["count"] == 2


async def test_lease_expiry_on_last_attempt_dead_letters(alice):
    q = {"queue_name": "dies"}
    _, job = await alice.post(
        "/v1/queue/submit", {"payload": "p", "max_attempts": 1, "visibility_timeout": 1, **q}
    )
    await alice.post("/v1/queue/claim", params=q)
    body = await poll(
        lambda: alice.get(f"/v1/queue/{job['job_id']}"), lambda r: r[1]["status"] == "dead_letter"
    )
    assert body[1]["status"] == "dead_letter" and "lease expired" in body[1]["last_error"]


async def test_delayed_jobs_invisible_until_due(alice):
    q = {"queue_name": "later"}
    status, job = await alice.post("/v1/queue/submit", {"payload": "d", "delay_seconds": 1.0, **q})
    assert status == 200 and "available_at" in job
    run_at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    _, job2 = await alice.post("/v1/queue/submit", {"payload": "r", "run_at": run_at, "priority": 9, **q})
    assert (await alice.post("/v1/queue/claim", params=q))[1]["status"] == "empty"
    _, stats = await alice.get("/v1/queue/stats", params=q)
    assert stats["queues"][0]["pending"] == 2 and stats["queues"][0]["delayed"] == 2
    _, first = await poll(lambda: alice.post("/v1/queue/claim", params=q), lambda r: "job_id" in r[1])
    got = {first["job_id"]}
    _, second = await poll(lambda: alice.post("/v1/queue/claim", params=q), lambda r: "job_id" in r[1])
    assert got | {second["job_id"]} == {job["job_id"], job2["job_id"]}


async def test_dedup_key_under_concurrent_submits(stack, alice):
    body = {"payload": "once", "queue_name": "dedup", "dedup_key": "order-42"}
    gateways = [alice.on(stack.url(0)), alice.on(stack.url(1))]
    async with replicas(stack, "queue", [12]):
        replies = await asyncio.gather(*(gateways[i % 2].post("/v1/queue/submit", body) for i in range(30)))
    assert all(status == 200 for status, _ in replies)
    assert len({b["job_id"] for _, b in replies}) == 1
    assert sum(1 for _, b in replies if b.get("deduplicated")) == 29
    assert (await alice.get("/v1/queue", params={"queue_name": "dedup"}))[1]["count"] == 1


async def test_stats_per_queue(alice):
    for i in range(3):
        await alice.post("/v1/queue/submit", {"payload": i, "queue_name": "s1"})
    await alice.post("/v1/queue/submit", {"payload": "x", "queue_name": "s2"})
    _, claimed = await alice.post("/v1/queue/claim", params={"queue_name": "s1"})
    await alice.post(f"/v1/queue/{claimed['job_id']}/complete")
    await asyncio.sleep(0.05)
    status, stats = await alice.get("/v1/queue/stats")
    assert status == 200 and stats["count"] == 2
    s1 = stats["queues"][0]
    assert {k: s1[k] for k in ("queue_name", "pending", "processing", "completed", "dead_letter")} == {
        "queue_name": "s1",
        "pending": 2,
        "processing": 0,
        "completed": 1,
        "dead_letter": 0,
    }
    assert s1["oldest_pending_age_seconds"] >= 0.05
    assert [
        q["queue_name"]
        for q in (await alice.get("/v1/queue/stats", params={"queue_name": "s2"}))[1]["queues"]
    ] == ["s2"]


async def test_events_for_completed_failed_dead_lettered(stack, alice):
    q = {"queue_name": "events"}
    _, a = await alice.post("/v1/queue/submit", {"payload": "a", **q})
    await alice.post("/v1/queue/claim", params=q)
    await alice.post(f"/v1/queue/{a['job_id']}/complete", params={"result": "fine"})
    _, b = await alice.post("/v1/queue/submit", {"payload": "b", "max_attempts": 1, **q})
    await alice.post("/v1/queue/claim", params=q)
    await alice.post(f"/v1/queue/{b['job_id']}/fail", {"error": "nope"})
    nc = await nats.connect(stack.infra.nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(f"events.{alice.agent_id}.>", ordered_consumer=True)
        seen: dict[str, dict] = {}
        while len(seen) < 3:
            msg = await sub.next_msg(timeout=5)
            event = orjson.loads(msg.data)
            seen[event["type"]] = event
        await sub.unsubscribe()
    finally:
        await nc.close()
    assert seen["job.completed"]["data"] == {
        "job_id": a["job_id"],
        "queue_name": "events",
        "status": "completed",
        "result": "fine",
    }
    assert (
        seen["job.failed"]["data"]["error"] == "nope" and seen["job.failed"]["data"]["queue_name"] == "events"
    )
    assert seen["job.dead_lettered"]["data"]["job_id"] == b["job_id"]
    assert seen["job.completed"]["agent_id"] == alice.agent_id


async def test_internal_ops_stats_and_purge(stack, anon, register):
    agent = await register("purged")
    await agent.post("/v1/queue/submit", {"payload": "x"})
    nc = await nats.connect(stack.infra.nats_url)
    try:
        assert (await call(nc, svc("queue", "global_stats"), {}, timeout=2)).unwrap()["total_jobs"] >= 1
        mine = await call(nc, svc("queue", "agent_stats"), {}, timeout=2, ctx=Ctx(agent_id=agent.agent_id))
        assert mine.unwrap() == {"jobs_submitted": 1}
        purged = await call(
            nc, svc("queue", "purge_agent"), {"agent_id": agent.agent_id}, timeout=2, ctx=Ctx(admin=True)
        )
        assert purged.unwrap() == {"agent_id": agent.agent_id, "deleted": 1}
    finally:
        await nc.close()
    assert (await agent.get("/v1/queue"))[1]["count"] == 0
    assert (await anon.get("/v1/health"))[1]["stats"]["total_jobs"] >= 0


def test_backoff_full_jitter_bounds():
    rng = random.Random(7)
    for attempt in range(1, 12):
        cap = min(30.0, 0.5 * 2 ** (attempt - 1))
        samples = [backoff_seconds(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0 <= s <= cap for s in samples) and max(samples) > cap * 0.8
    assert backoff_seconds(3, 0.0, 10.0) == 0.0
    assert backoff_seconds(10_000, 1.0, 5.0, rng) <= 5.0


# ── what 1.0's clients read: submit, status, fail, replay ─────────────────────────────────────────────────


async def test_fields_clients_read_on_submit_status_and_fail(alice):
    q = {"queue_name": "fields"}
    status, job = await alice.post("/v1/queue/submit", {"payload": "p", "max_attempts": 2, **q})
    assert status == 200 and job["max_attempts"] == 2
    jid = job["job_id"]
    assert (await alice.get(f"/v1/queue/{jid}"))[1]["claimed_by"] is None
    await alice.post("/v1/queue/claim", params=q)
    assert (await alice.get(f"/v1/queue/{jid}"))[1]["claimed_by"] == alice.agent_id
    status, failed = await alice.post(f"/v1/queue/{jid}/fail", {"reason": "first"})
    assert status == 200 and {k: failed[k] for k in ("job_id", "status", "attempts", "max_attempts")} == {
        "job_id": jid,
        "status": "pending_retry",
        "attempts": 1,
        "max_attempts": 2,
    }
    assert re.match(ISO_UTC, failed["next_retry_at"]) and failed["attempt"] == 1
    await poll(lambda: alice.post("/v1/queue/claim", params=q), lambda r: "job_id" in r[1])
    status, failed = await alice.post(f"/v1/queue/{jid}/fail", {"reason": "second"})
    assert {k: failed[k] for k in ("job_id", "status", "attempts", "max_attempts", "retry_at")} == {
        "job_id": jid,
        "status": "dead_lettered",
        "attempts": 2,
        "max_attempts": 2,
        "retry_at": None,
    }
    assert (await alice.get(f"/v1/queue/{jid}"))[1]["status"] == "dead_letter"  # the job's own status
    before = datetime.now(UTC)
    status, replayed = await alice.post(f"/v1/queue/{jid}/replay")
    assert status == 200 and abs((parse(replayed["replayed_at"]) - before).total_seconds()) < 1


async def test_retry_delay_seconds_waits_exactly_that_long(alice):
    q = {"queue_name": "fixed-delay"}
    _, job = await alice.post(
        "/v1/queue/submit", {"payload": "p", "max_attempts": 3, "retry_delay_seconds": 2, **q}
    )
    jid = job["job_id"]
    for attempt in (1, 2):
        _, claimed = await poll(
            lambda: alice.post("/v1/queue/claim", params=q), lambda r: "job_id" in r[1], timeout=5
        )
        assert claimed["attempt"] == attempt
        before = datetime.now(UTC)
        _, failed = await alice.post(f"/v1/queue/{jid}/fail", {"error": "again"})
        delay = (parse(failed["next_retry_at"]) - before).total_seconds()
        assert 1.9 <= delay <= 2.2, delay  # no jitter, no doubling
    # asking for exponential backoff keeps the jittered doubling; retry_delay_seconds is then its base
    _, exp = await alice.post(
        "/v1/queue/submit",
        {
            "payload": "e",
            "backoff": "exponential",
            "retry_delay_seconds": 0.2,
            "max_attempts": 2,
            "queue_name": "exp",
        },
    )
    await alice.post("/v1/queue/claim", params={"queue_name": "exp"})
    before = datetime.now(UTC)
    _, failed = await alice.post(f"/v1/queue/{exp['job_id']}/fail", {"error": "x"})
    assert -0.05 <= (parse(failed["next_retry_at"]) - before).total_seconds() <= 0.3
    assert (await alice.post("/v1/queue/submit", {"payload": "x", "backoff": "linear"}))[0] == 422


# ── fleets: claim many, batch complete / fail / heartbeat, concurrency keys, fairness ────────────────────


async def test_claim_many_and_the_batch_verbs(alice, bob):
    q = {"queue_name": "fleet"}
    await alice.post("/v1/queue/batch", {"items": [{"payload": i, "priority": i % 2, **q} for i in range(5)]})
    status, jobs = await alice.post("/v1/queue/claim", params={"max_jobs": 3, **q})
    assert status == 200 and isinstance(jobs, list) and len(jobs) == 3
    assert [j["payload"] for j in jobs] == [1, 3, 0]  # claim order: priority, then age
    assert all(j["attempt"] == 1 and j["queue_name"] == "fleet" for j in jobs)
    rest = (await alice.post("/v1/queue/claim", params={"max_jobs": 10, **q}))[1]
    assert [j["payload"] for j in rest] == [2, 4]
    assert (await alice.post("/v1/queue/claim", params={"max_jobs": 10, **q}))[1] == []
    assert (await alice.post("/v1/queue/claim", params=q))[1] == {"status": "empty", "queue_name": "fleet"}
    for bad in (0, 101):
        assert (await alice.post("/v1/queue/claim", params={"max_jobs": bad, **q}))[0] == 422

    a, b, c = jobs
    status, hb = await alice.post(
        "/v1/queue/heartbeat",
        {"items": [{"job_id": a["job_id"], "extend_seconds": 600}, {"job_id": "job_missing"}]},
    )
    assert status == 200 and (hb["total"], hb["succeeded"], hb["failed"]) == (2, 1, 1)
    assert hb["results"][0]["success"] and hb["results"][0]["attempt"] == 1
    assert hb["results"][1] == {
        "job_id": "job_missing",
        "success": False,
        "status": "not_found",
        "error": "Job not found or not in processing state",
    }
    status, done = await alice.post(
        "/v1/queue/complete",
        {
            "items": [
                {"job_id": a["job_id"], "result": {"n": 1}},
                {"job_id": b["job_id"], "result": "late", "attempt": 7},
                {"job_id": rest[0]["job_id"]},
            ]
        },
    )
    assert status == 200 and (done["succeeded"], done["failed"]) == (2, 1)
    assert done["results"][0] == {
        "job_id": a["job_id"],
        "status": "completed",
        "success": True,
        "error": None,
    }
    assert (done["results"][1]["status"], done["results"][1]["success"]) == ("conflict", False)
    assert (await alice.get(f"/v1/queue/{a['job_id']}"))[1]["result"] == {"n": 1}
    assert (await bob.post("/v1/queue/complete", {"items": [{"job_id": b["job_id"]}]}))[1]["failed"] == 1
    status, failed = await alice.post(
        "/v1/queue/fail",
        {"items": [{"job_id": b["job_id"], "error": "x", "retryable": False}, {"job_id": a["job_id"]}]},
    )
    assert status == 200 and failed["results"][0]["status"] == "dead_lettered"
    assert (failed["results"][1]["success"], failed["results"][1]["status"]) == (False, "not_found")
    assert (await alice.get(f"/v1/queue/{b['job_id']}"))[1]["status"] == "dead_letter"
    # one job twice in a batch, or no items at all: 422
    dup = {"items": [{"job_id": c["job_id"]}, {"job_id": c["job_id"]}]}
    assert (await alice.post("/v1/queue/complete", dup))[0] == 422
    assert (await alice.post("/v1/queue/fail", {"items": []}))[0] == 422


async def test_concurrency_limit_holds_across_two_replicas(stack, register):
    owner = await register("limited")
    ctx = Ctx(agent_id=owner.agent_id)
    q = {"queue_name": "limits"}
    nc = await nats.connect(stack.infra.nats_url)
    try:
        items = [
            {"payload": f"a{i}", "concurrency_key": "cust-a", "concurrency_limit": 2, **q} for i in range(6)
        ]
        items += [{"payload": f"b{i}", "concurrency_key": "cust-b", **q} for i in range(3)]
        (await call(nc, svc("queue", "submit_batch"), {"items": items}, timeout=5, ctx=ctx)).unwrap()
        async with replicas(stack, "queue", [13]):
            replies = await asyncio.gather(
                *(call(nc, svc("queue", "claim"), q, timeout=5, ctx=ctx) for _ in range(20))
            )
        claimed = [r.unwrap() for r in replies]
        got = sorted(body["payload"] for body in claimed if "job_id" in body)
        assert len([p for p in got if p.startswith("a")]) == 2  # never more than the key's limit
        assert [p for p in got if p.startswith("b")] == ["b0", "b1", "b2"]  # no limit on this key
        # a slot frees up when a job of the key completes
        first_a = next(body for body in claimed if body.get("payload", "").startswith("a"))
        (await call(nc, svc("queue", "complete"), {"job_id": first_a["job_id"]}, timeout=5, ctx=ctx)).unwrap()
        more = (await call(nc, svc("queue", "claim"), {"max_jobs": 10, **q}, timeout=5, ctx=ctx)).unwrap()
        assert len(more) == 1 and more[0]["payload"].startswith("a")
    finally:
        await nc.close()
    assert (await owner.get("/v1/queue/stats", params=q))[1]["queues"][0][
        "processing"
    ] == 5  # 2 of cust-a, 3 of cust-b
    assert (await owner.post("/v1/queue/submit", {"payload": 1, "concurrency_limit": 2}))[0] == 422


async def test_a_burst_under_one_key_does_not_delay_another_keys_jobs(stack, register):
    """10,000 jobs of one tenant, then 10 of another: round-robin across keys serves the second tenant's
    jobs in the first 20 claims, not after the burst."""
    owner = await register("fair")
    ctx = Ctx(agent_id=owner.agent_id)
    q = {"queue_name": "fair"}
    nc = await nats.connect(stack.infra.nats_url)
    try:
        burst = [{"payload": f"a{i}", "concurrency_key": "tenant-a", **q} for i in range(10_000)]
        for k in range(0, len(burst), 100):  # one batch after another: each job tagged after the last
            reply = await call(
                nc, svc("queue", "submit_batch"), {"items": burst[k : k + 100]}, timeout=30, ctx=ctx
            )
            reply.unwrap()
        small = [{"payload": f"b{i}", "concurrency_key": "tenant-b", **q} for i in range(10)]
        (await call(nc, svc("queue", "submit_batch"), {"items": small}, timeout=5, ctx=ctx)).unwrap()
        first = (await call(nc, svc("queue", "claim"), {"max_jobs": 20, **q}, timeout=5, ctx=ctx)).unwrap()
        # and once tenant A's backlog is half served, a newcomer is still tagged at the head, not behind it
        for _ in range(50):
            (await call(nc, svc("queue", "claim"), {"max_jobs": 100, **q}, timeout=5, ctx=ctx)).unwrap()
        (
            await call(
                nc,
                svc("queue", "submit"),
                {"payload": "c0", "concurrency_key": "tenant-c", **q},
                timeout=5,
                ctx=ctx,
            )
        ).unwrap()
        later = (await call(nc, svc("queue", "claim"), {"max_jobs": 2, **q}, timeout=5, ctx=ctx)).unwrap()
    finally:
        await nc.close()
    payloads = [j["payload"] for j in first]
    assert sorted(p for p in payloads if p.startswith("b")) == [f"b{i}" for i in range(10)], payloads
    assert payloads[:4] == ["a0", "b0", "a1", "b1"]  # alternating
    assert "c0" in [j["payload"] for j in later]

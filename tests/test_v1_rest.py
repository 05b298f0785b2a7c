"""MoltGrid 1.0's remaining agent routes through the real stack (2 gateways): error bodies with both versions'
fields, key rotation, webhook test sends, queue batches and dead letters, onboarding, shared-memory namespaces
and templates."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson
import pytest

from services.relay.delivery import post_event
from shared.events import make_event
from shared.outbound import GuardedClient
from tests.helpers import ISO_UTC, until

pytestmark = pytest.mark.timeout(120)


# ── error bodies ─────────────────────────────────────────────────────────────────────────────────────────────


async def test_error_bodies_carry_the_seed_detail_and_1_0_fields(alice, anon):
    status, body, headers = await alice.request(
        "GET", "/v1/memory/nope", envelope=True, headers={"X-Request-ID": "req-abc.1"}
    )
    assert status == 404 and headers["X-Request-ID"] == "req-abc.1"
    assert ISO_UTC.fullmatch(body.pop("timestamp"))
    assert body == {
        "detail": "Key not found or expired",
        "error": "not_found",
        "message": "Key not found or expired",
        "request_id": "req-abc.1",
        "retry_after_seconds": None,
    }
    status, body, headers = await anon.request("GET", "/v1/memory", envelope=True)
    assert status == 401 and body["error"] == "unauthorized" and body["detail"] == "Missing X-API-Key header"
    assert body["request_id"] == headers["X-Request-ID"] and body["retry_after_seconds"] is None
    status, body, _ = await alice.request(
        "POST", "/v1/queue/submit", json={"payload": "x", "priority": 11}, envelope=True
    )
    # a 422 keeps FastAPI's list in `detail`
    assert status == 422 and body["error"] == "validation_error" and body["message"] == "Validation failed"
    assert [e["loc"] for e in body["detail"]] == [["body", "priority"]]
    status, body, headers = await anon.request("DELETE", "/v1/register", envelope=True)
    assert (status, body["detail"], body["error"]) == (405, "Method Not Allowed", "method_not_allowed")
    status, body, _ = await anon.request("GET", "/v1/nope", envelope=True)
    assert (status, body["detail"], body["error"]) == (404, "Not Found", "not_found")
    status, body, _ = await alice.request(
        "POST",
        "/v1/memory",
        data=b"x" * (2 * 1024 * 1024),
        envelope=True,
        headers={"Content-Type": "application/json"},
    )
    assert (status, body["error"]) == (413, "payload_too_large")


# ── key rotation ─────────────────────────────────────────────────────────────────────────────────────────────


async def test_rotated_key_stops_working_at_once_on_every_gateway(alice, stack):
    gateways = [alice.on(stack.url(0)), alice.on(stack.url(1))]
    for g in gateways:  # both gateways have the old key cached
        assert (await g.get("/v1/directory/me"))[0] == 200
    status, body = await gateways[0].post("/v1/agents/rotate-key")
    assert status == 200 and body["status"] == "rotated" and body["agent_id"] == alice.agent_id
    assert body["message"] == "Store your new API key securely. The old key is now invalid."
    assert body["api_key"].startswith("af_") and body["api_key"] != alice.key
    for g in gateways:  # right after the answer, with no wait
        assert await g.get("/v1/directory/me") == (401, {"detail": "Invalid API key"})
    for i in (1, 0):
        renewed = gateways[i].__class__(alice.http, stack.url(i), body["api_key"], alice.agent_id)
        status, me = await renewed.get("/v1/directory/me")
        assert status == 200 and me["agent_id"] == alice.agent_id
    # rotating again retires the second key the same way; the agent's data stays its own
    newer = gateways[1].__class__(alice.http, stack.url(1), body["api_key"], alice.agent_id)
    assert (await newer.post("/v1/memory", {"key": "k", "value": "v"}))[0] == 200
    status, again = await newer.post("/v1/agents/rotate-key")
    assert status == 200 and again["api_key"] not in (alice.key, body["api_key"])
    for i in (0, 1):
        assert (await newer.on(stack.url(i)).get("/v1/memory/k"))[0] == 401
        latest = newer.__class__(alice.http, stack.url(i), again["api_key"], alice.agent_id)
        assert (await latest.get("/v1/memory/k"))[1]["value"] == "v"


# ── webhook test sends ───────────────────────────────────────────────────────────────────────────────────────


async def test_webhook_test_sends_a_signed_event_and_reports_the_answer(alice, receiver):
    hook = (
        await alice.post(
            "/v1/webhooks", {"url": receiver.url, "event_types": ["job.completed"], "secret": "whsecret"}
        )
    )[1]
    status, sent = await alice.post(f"/v1/webhooks/{hook['webhook_id']}/test")
    assert status == 200, sent
    assert (sent["status"], sent["error"], sent["status_code"]) == ("delivered", None, 200)
    assert sent["delivery_id"].startswith("dlv_") and sent["latency_ms"] >= 0
    assert receiver.deliveries == 1
    headers, body = receiver.received[0]
    event = orjson.loads(body)
    assert (event["type"], event["event"], event["agent_id"]) == (
        "webhook.test",
        "webhook.test",
        alice.agent_id,
    )
    assert event["data"]["webhook_id"] == hook["webhook_id"] and event["id"] == sent["event_id"]
    # the same two signatures as every real delivery
    assert headers["X-MoltGrid-Signature"] == hmac.new(b"whsecret", body, hashlib.sha256).hexdigest()
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    assert (
        headers["webhook-signature"]
        == "v1," + base64.b64encode(hmac.new(b"whsecret", signed, hashlib.sha256).digest()).decode()
    )
    assert headers["X-MoltGrid-Event"] == "webhook.test" and headers["webhook-id"] == event["id"]
    # kept in the delivery log as one finished delivery
    log = (await alice.get(f"/v1/webhooks/{hook['webhook_id']}/deliveries"))[1]["deliveries"]
    assert [(d["delivery_id"], d["event_type"], d["status"], d["attempts"]) for d in log] == [
        (sent["delivery_id"], "webhook.test", "delivered", 1)
    ]
    assert log[0]["attempt_log"][0]["status_code"] == 200 and log[0]["next_attempt_at"] is None
    # a receiver that refuses: reported as failed, never retried
    receiver.status = 500
    status, failed = await alice.post(f"/v1/webhooks/{hook['webhook_id']}/test")
    assert status == 200 and (failed["status"], failed["status_code"]) == ("failed", 500)
    assert failed["error"] == "receiver answered 500"
    log = (await alice.get(f"/v1/webhooks/{hook['webhook_id']}/deliveries"))[1]["deliveries"]
    assert {d["delivery_id"]: (d["status"], d["attempts"]) for d in log}[failed["delivery_id"]] == (
        "failed",
        1,
    )


async def test_webhook_test_to_an_unreachable_receiver_reports_the_error(alice):
    hook = (
        await alice.post("/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "event_types": ["job.completed"]})
    )[1]
    status, sent = await alice.post(f"/v1/webhooks/{hook['webhook_id']}/test")
    assert status == 200 and sent["status"] == "failed" and sent["status_code"] is None
    assert sent["error"] and sent["latency_ms"] >= 0
    assert await alice.post("/v1/webhooks/wh_nope/test") == (404, {"detail": "Webhook not found"})


async def test_test_sends_keep_the_ssrf_guard(receiver):
    """Without the operator's allowance, the send path's resolver refuses a name that resolves to loopback
    (IP literals are refused by check_url, which the test route runs on the stored URL first); with it, the
    same send arrives — so the refusal is the guard's doing."""
    url = f"http://localhost:{receiver.port}/hook"
    for allow_private in (False, True):
        client = GuardedClient(allow_private)
        try:
            attempt = await post_event(client.http(), url, "s", make_event("agent_x", "webhook.test", {}))
        finally:
            await client.close()
        if allow_private:
            assert attempt.status_code == 200 and receiver.deliveries == 1
        else:
            assert attempt.status_code is None and attempt.error and receiver.deliveries == 0


# ── queue: batch, fail, dead letters ─────────────────────────────────────────────────────────────────────────


async def test_queue_batch_submits_every_item_or_none(alice):
    status, body = await alice.post(
        "/v1/queue/batch",
        {"items": [{"payload": "a"}, {"payload": {"n": 2}, "priority": 5, "queue_name": "bq"}]},
    )
    assert status == 200 and (body["total"], body["succeeded"], body["failed"]) == (2, 2, 0)
    first, second = body["results"]
    assert (first["success"], first["status"], first["queue_name"], first["error"]) == (
        True,
        "pending",
        "default",
        None,
    )
    assert second["queue_name"] == "bq" and second["job_id"].startswith("job_")
    job = (await alice.get(f"/v1/queue/{second['job_id']}"))[1]
    assert (job["priority"], job["status"]) == (5, "pending")
    claimed = (await alice.post("/v1/queue/claim", params={"queue_name": "bq"}))[1]
    assert claimed["payload"] == {"n": 2}
    # one invalid item: 422 naming it, and nothing of the batch is stored
    status, body = await alice.post(
        "/v1/queue/batch",
        {"items": [{"payload": "ok", "queue_name": "none"}, {"payload": "x", "priority": 11}]},
    )
    assert status == 422 and [e["loc"] for e in body["detail"]] == [["body", "items", 1, "priority"]]
    assert (await alice.get("/v1/queue/stats", params={"queue_name": "none"}))[1]["count"] == 0
    # 1.0's own refusals: `jobs` is not the field, and 1 to 100 items
    status, body = await alice.post("/v1/queue/batch", {"jobs": [{"payload": "a"}]})
    assert (
        status == 422
        and body["detail"][0]["loc"] == ["body", "items"]
        and body["detail"][0]["type"] == "missing"
    )
    assert (await alice.post("/v1/queue/batch", {"items": []}))[0] == 422
    assert (await alice.post("/v1/queue/batch", {"items": [{"payload": i} for i in range(101)]}))[0] == 422
    # a dedup key repeated within the batch names one job
    status, body = await alice.post(
        "/v1/queue/batch",
        {"items": [{"payload": "d", "dedup_key": "same"}, {"payload": "d", "dedup_key": "same"}]},
    )
    assert status == 200 and body["results"][0]["job_id"] == body["results"][1]["job_id"]
    assert body["results"][1]["deduplicated"] is True


async def test_dead_letter_paging_on_1_0_path(alice):
    jobs = []
    for i in range(3):
        job = (await alice.post("/v1/queue/submit", {"payload": i, "queue_name": "dl", "max_attempts": 1}))[1]
        await alice.post("/v1/queue/claim", params={"queue_name": "dl"})
        failed = (await alice.post(f"/v1/queue/{job['job_id']}/fail", {"reason": f"boom {i}"}))[1]
        assert failed["status"] == "dead_lettered"
        jobs.append(job["job_id"])
    page1 = (await alice.get("/v1/queue/dead_letter", params={"queue_name": "dl", "limit": 2, "offset": 0}))[
        1
    ]
    page2 = (await alice.get("/v1/queue/dead_letter", params={"queue_name": "dl", "limit": 2, "offset": 2}))[
        1
    ]
    listed = [j["job_id"] for j in page1["jobs"] + page2["jobs"]]
    assert sorted(listed) == sorted(jobs) and page1["count"] == 2 and page2["count"] == 1
    assert {j["last_error"] for j in page1["jobs"] + page2["jobs"]} == {"boom 0", "boom 1", "boom 2"}
    assert (await alice.get("/v1/queue/dead_letter", params={"offset": -1}))[0] == 422


# ── onboarding ───────────────────────────────────────────────────────────────────────────────────────────────


def _done(checklist: dict) -> dict[str, bool]:
    return {s["id"]: s["completed"] for s in checklist["steps"]}


async def test_onboarding_progress_follows_what_the_agent_did(alice, bob):
    status, start = await alice.post("/v1/onboarding/start")
    assert (
        status == 200
        and start["total"] == 7
        and start["reward"] == "Complete all steps to earn 100 bonus credits!"
    )
    assert [s["id"] for s in start["steps"]] == [
        "register",
        "memory",
        "message",
        "queue",
        "schedule",
        "directory",
        "heartbeat",
    ]
    assert start["steps"][1] == {
        "id": "memory",
        "title": "Store something in memory",
        "completed": False,
        "endpoint": "POST /v1/memory",
    }
    assert _done(start) == {
        "register": True,
        "memory": False,
        "message": False,
        "queue": False,
        "schedule": False,
        "directory": False,
        "heartbeat": False,
    }
    assert start["progress"] == 1 and start["degraded"] == []
    await alice.post("/v1/memory", {"key": "k", "value": "v"})
    await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "payload": "hi"})
    status, mid = await alice.get("/v1/onboarding/status")
    assert status == 200 and mid["progress"] == 3
    assert _done(mid) | {"memory": True, "message": True} == _done(mid)
    await alice.post("/v1/queue/submit", {"payload": "p"})
    await alice.post("/v1/schedules", {"cron_expr": "*/5 * * * *", "payload": "p"})
    await alice.put("/v1/directory/me", {"description": "learning"})
    done = (await alice.get("/v1/onboarding/status"))[1]
    assert {k for k, v in _done(done).items() if v} >= {
        "register",
        "memory",
        "message",
        "queue",
        "schedule",
        "directory",
    }
    assert done["progress"] == sum(_done(done).values()) == 6 and not _done(done)["heartbeat"]
    await alice.post("/v1/agents/heartbeat", {"status": "online"})
    beaten = (await alice.get("/v1/onboarding/status"))[1]
    assert _done(beaten)["heartbeat"] and beaten["progress"] == 7
    # bob's checklist is bob's: receiving a message is not sending one
    assert _done((await bob.get("/v1/onboarding/status"))[1])["message"] is False


# ── shared-memory namespaces, templates ──────────────────────────────────────────────────────────────────────


async def test_shared_memory_namespaces_on_the_1_0_path(alice, bob):
    await alice.post("/v1/shared-memory", {"namespace": "ns-v1", "key": "a", "value": "1"})
    await bob.post("/v1/shared-memory", {"namespace": "ns-v1", "key": "b", "value": "2"})

    async def both() -> tuple:
        one, two = await alice.get("/v1/shared-memory-namespaces"), await alice.get("/v1/shared-memory")
        return (one, two) if one == two else None

    (status, body), _ = await until("the same listing on both paths", both)
    entry = next(n for n in body["namespaces"] if n["namespace"] == "ns-v1")
    assert status == 200 and entry["entry_count"] == 2 and entry["contributor_count"] == 2


async def test_templates_catalogue(anon):
    status, body = await anon.get("/v1/templates")
    assert status == 200 and [t["template_id"] for t in body["templates"]] == [
        "tmpl_worker",
        "tmpl_customer_service",
        "tmpl_openclaw",
    ]
    for t in body["templates"]:
        assert set(t) == {"template_id", "name", "description", "category", "starter_code"}
        assert isinstance(orjson.loads(t["starter_code"]), dict)
    status, worker = await anon.get("/v1/templates/tmpl_worker")
    assert status == 200 and worker == body["templates"][0] and worker["category"] == "worker"
    assert orjson.loads(worker["starter_code"])["example_poll"] == "GET /v1/queue/claim?queue=default"
    assert await anon.get("/v1/templates/tmpl_nope") == (404, {"detail": "Template not found"})


def test_one_error_body_for_every_internal_code():
    """Every ServiceError code has a stable public code; 429/503 bodies carry the wait, others null."""
    from gateway.http import PUBLIC_CODES, http_error_body
    from shared.errors import SERVICE_ERRORS

    assert {cls.code for cls in SERVICE_ERRORS} == set(PUBLIC_CODES)
    assert len(set(PUBLIC_CODES.values())) == len(PUBLIC_CODES)
    limited = http_error_body("rate_limited", "Rate limit exceeded (120/min)", "r1", 7)
    assert ISO_UTC.fullmatch(limited.pop("timestamp"))
    assert limited == {
        "detail": "Rate limit exceeded (120/min)",
        "error": "rate_limit_exceeded",
        "message": "Rate limit exceeded (120/min)",
        "request_id": "r1",
        "retry_after_seconds": 7,
    }
    invalid = http_error_body(
        "invalid", [{"type": "missing", "loc": ["body", "items"], "msg": "Field required"}], "r2"
    )
    assert (invalid["error"], invalid["message"], invalid["detail"][0]["loc"]) == (
        "validation_error",
        "Validation failed",
        ["body", "items"],
    )
    assert http_error_body("method_not_allowed", "Method Not Allowed", None)["error"] == "method_not_allowed"


async def test_concurrent_rotations_with_one_key_give_exactly_one_working_key(alice, stack):
    """Compare-and-set on the old key: of five rotations racing with the same key one wins, and the key it
    returns is the one that works; the others are refused as a key that is no longer valid (401)."""
    import asyncio

    gateways = [alice.on(stack.url(i % 2)) for i in range(5)]
    answers = await asyncio.gather(*(g.post("/v1/agents/rotate-key") for g in gateways))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 401, 401, 401, 401], answers
    winner = next(body for status, body in answers if status == 200)
    for i in (0, 1):
        renewed = alice.__class__(alice.http, stack.url(i), winner["api_key"], alice.agent_id)
        assert (await renewed.get("/v1/directory/me"))[0] == 200
        assert (await alice.on(stack.url(i)).get("/v1/directory/me"))[0] == 401

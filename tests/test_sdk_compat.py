"""Existing SDKs work unchanged against this server.

The seed's single-file `moltgrid.py` is not available offline; the official PyPI SDK `moltgrid==0.2.0` is, and
it is driven here UNCHANGED (hash-pinned in requirements-sdk-compat.lock, installed by run.py into
.venv/sdk-compat because its distribution name is this project's own), pointed at the test stack's base URL.

`test_seed_sdk_method_reference` plays every line of the seed README's "Full SDK Method Reference", in its order
and with its literal arguments. A line whose method the package has (under the seed's name or a later one, see
RENAMED) calls the package; a line it has no method for goes through `SeedShim`, a few lines of `requests` that
call the route exactly as the seed README documents. Where a literal cannot work against any correct server the
deviation is commented at that line. The package is a later SDK that also calls routes the seed never had
(MoltGrid 1.0's); those this server serves are driven unchanged by the tests below (IN_SCOPE's 1.0 part,
V1_REST, V1_METHODS), and any not served yet are enumerated in OUT_OF_SCOPE.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

SDK_DIR = Path(sys.prefix) / "sdk-compat"
if str(SDK_DIR) not in sys.path:
    sys.path.append(str(SDK_DIR))
from tests.helpers import Receiver  # noqa: E402 - after the SDK's path is added

try:
    import moltgrid
    from moltgrid import MoltGrid, MoltGridError
except ImportError as exc:  # pragma: no cover - a venv prepared before the SDK was pinned
    raise ImportError(
        f"the PyPI SDK moltgrid==0.2.0 is not in {SDK_DIR}; `python3 run.py test` installs it "
        "(requirements-sdk-compat.lock)"
    ) from exc

# Seed SDK name → the package's name for the same route (same method, path and fields).
RENAMED = {
    "directory_update": "update_profile",
    "directory_me": "profile",
    "directory_list": "directory",
    "directory_status": "update_status",
    "collaboration_log": "rate_collaboration",
    "directory_match": "match",
    "scenario_list": "test_scenario_list",
    "scenario_run": "test_scenario_run",
}
# Package methods whose routes are in the seed contract (/work/shared/contract/openapi.json).
IN_SCOPE = {
    "memory_set",
    "memory_get",
    "memory_list",
    "memory_delete",
    "queue_submit",
    "queue_claim",
    "queue_status",
    "queue_complete",
    "queue_list",
    "send_message",
    "inbox",
    "mark_read",
    "webhook_create",
    "webhook_list",
    "webhook_delete",
    "schedule_create",
    "schedule_list",
    "schedule_get",
    "schedule_toggle",
    "schedule_delete",
    "shared_set",
    "shared_get",
    "shared_list",
    "shared_delete",
    "update_profile",
    "profile",
    "directory",
    "directory_search",
    "update_status",
    "rate_collaboration",
    "match",
    "marketplace_create",
    "marketplace_claim",
    "marketplace_deliver",
    "marketplace_review",
    "test_scenario_create",
    "test_scenario_list",
    "test_scenario_run",
    "text_process",
    "stats",
    # MoltGrid 1.0 memory and sessions (issue 11), driven by test_memory_visibility_and_session_methods
    "memory_set_visibility",
    "memory_read_agent",
    "session_create",
    "session_list",
    "session_get",
    "session_append",
    "session_summarize",
    "session_delete",
}
# Package methods calling MoltGrid 1.0 routes this server now serves (issue 12), each driven below.
IN_SCOPE |= {"events", "events_ack"}
# Package methods calling MoltGrid 1.0 routes (/work/shared/contract/v1), called unchanged by the test_v1_* tests.
V1_METHODS = {
    "pubsub_subscribe",
    "pubsub_unsubscribe",
    "pubsub_publish",
    "pubsub_subscriptions",
    "pubsub_channels",
    "leaderboard",
    "directory_stats",
    "heartbeat",
}
# Package methods calling routes the seed contract does not have (later versions of the original): not tested.
OUT_OF_SCOPE: set[str] = set()  # none left: every method of the package is driven by a test
# MoltGrid 1.0 methods of the package beyond the seed's routes, called unchanged in test_v1_rest_methods.
V1_REST = {
    "shared_namespaces",
    "queue_fail",
    "queue_replay",
    "queue_dead_letter",
    "webhook_test",
    "onboarding_start",
    "onboarding_status",
}

# Package methods calling MoltGrid 1.0 routes this server now serves (shared/contract/v1): tested below.
V1_IN_SCOPE = {
    "vector_upsert",
    "vector_search",
    "vector_get",
    "vector_delete",
    "vector_list",  # /v1/vector/... (issue 11)
}


class SeedShim:
    """The seed SDK's methods that the package lacks, or cannot call with the reference's arguments: each one
    calls its route exactly as the seed README documents (method, path, field names), nothing more."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        if api_key:
            self.session.headers["X-API-Key"] = api_key

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Any:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        json = None if json is None else {k: v for k, v in json.items() if v is not None}
        r = self.session.request(method, self.base_url + path, params=params, json=json, timeout=30)
        assert r.status_code == 200, (method, path, r.status_code, r.text)
        return r.json()

    @staticmethod
    def register(base_url: str, name: str | None = None) -> dict[str, Any]:
        """MoltGrid.register(name=...) — static, no key: POST /v1/register."""
        return SeedShim(base_url)._call("POST", "/v1/register", json={"name": name})

    def shared_list(self) -> Any:
        """mg.shared_list() with no namespace lists the namespaces: GET /v1/shared-memory. (The package's
        shared_list requires a namespace and its shared_namespaces calls a post-seed path.)"""
        return self._call("GET", "/v1/shared-memory")

    def marketplace_browse(
        self, category: str | None = None, status: str | None = None, min_reward: int | None = None
    ) -> Any:
        return self._call(
            "GET",
            "/v1/marketplace/tasks",
            params={"category": category, "status": status, "min_reward": min_reward},
        )

    def marketplace_get(self, task_id: str) -> Any:
        return self._call("GET", f"/v1/marketplace/tasks/{task_id}")

    def scenario_create(
        self,
        pattern: str,
        agent_count: int,
        name: str | None = None,
        timeout_seconds: int | None = None,
        success_criteria: dict[str, Any] | None = None,
    ) -> Any:
        """The package's test_scenario_create has no success_criteria parameter, which the reference passes."""
        return self._call(
            "POST",
            "/v1/testing/scenarios",
            json={
                "pattern": pattern,
                "agent_count": agent_count,
                "name": name,
                "timeout_seconds": timeout_seconds,
                "success_criteria": success_criteria,
            },
        )

    def scenario_results(self, scenario_id: str) -> Any:
        return self._call("GET", f"/v1/testing/scenarios/{scenario_id}/results")

    def health(self) -> Any:
        return self._call("GET", "/v1/health")

    def sla(self) -> Any:
        return self._call("GET", "/v1/sla")


SHIMMED = {
    "register",
    "shared_list",
    "marketplace_browse",
    "marketplace_get",
    "scenario_create",
    "scenario_results",
    "health",
    "sla",
}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


def test_the_package_is_the_pinned_one_and_its_methods_are_all_accounted_for():
    assert moltgrid.__version__ == "0.2.0" and Path(moltgrid.__file__).is_relative_to(SDK_DIR)
    public = {n for n, f in vars(MoltGrid).items() if callable(f) and not n.startswith("_")}
    sets = (IN_SCOPE, OUT_OF_SCOPE, V1_REST, V1_METHODS, V1_IN_SCOPE)
    assert public == set().union(*sets) and not OUT_OF_SCOPE
    assert sum(len(s) for s in sets) == len(set().union(*sets))  # no method counted twice
    for seed_name, package_name in RENAMED.items():  # a rename, not a missing method
        assert package_name in IN_SCOPE and not hasattr(MoltGrid, seed_name)
    # The shim only stands in where the package cannot make the reference's call.
    for name in SHIMMED - {"shared_list", "scenario_create"}:
        assert not hasattr(MoltGrid, name), name
    assert "success_criteria" not in inspect.signature(MoltGrid.test_scenario_create).parameters
    assert inspect.signature(MoltGrid.shared_list).parameters["namespace"].default is inspect.Parameter.empty


def _agent(base: str, name: str) -> tuple[MoltGrid, str]:
    """A freshly registered agent: the package's client for it, and its id."""
    keys = SeedShim.register(base, name)
    return MoltGrid(api_key=keys["api_key"], base_url=base), keys["agent_id"]


def _reference(base: str) -> None:
    # ── setup (not reference lines): two other agents, driven by the same package ──────────────────────────
    peer, peer_id = _agent(base, "compat-peer")
    rater, _ = _agent(base, "compat-rater")

    # -- Registration (static, no key needed) --
    result = SeedShim.register(base, name="my-bot")
    assert re.fullmatch(r"af_[0-9a-f]{32}", result["api_key"]) and re.fullmatch(
        r"agent_[0-9a-f]{12}", result["agent_id"]
    )
    assert result["message"] == "Store your API key securely. It cannot be recovered."
    me_id = result["agent_id"]

    # -- Create client --  (the placeholder "af_your_key_here" → the key just issued; base_url → the test stack)
    mg = MoltGrid(api_key=result["api_key"], base_url=base)
    seed = SeedShim(base, result["api_key"])

    # -- Memory --
    assert mg.memory_set("portfolio", '{"BTC": 1.5}', namespace="trading", ttl_seconds=86400) == {
        "status": "stored",
        "key": "portfolio",
        "namespace": "trading",
        "visibility": "private",
        "version": 1,
    }
    data = mg.memory_get("portfolio", namespace="trading")
    assert (data["key"], data["value"], data["namespace"]) == ("portfolio", '{"BTC": 1.5}', "trading")
    assert data["version"] == 1  # the entry's version, what 1.0 also sends as its ETag
    expires = datetime.fromisoformat(data["expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(seconds=86400)
    keys = mg.memory_list(namespace="trading", prefix="port")
    assert [k["key"] for k in keys["keys"]] == ["portfolio"] and keys["count"] == 1
    assert mg.memory_delete("portfolio", namespace="trading") == {"status": "deleted", "key": "portfolio"}
    with pytest.raises(MoltGridError) as missing:
        mg.memory_get("portfolio", namespace="trading")
    assert missing.value.status_code == 404 and missing.value.detail == "Key not found or expired"

    # -- Task Queue --
    # Setup: the reference claims from queue "work" right after submitting to "default"; jobs belong to their
    # owner here (the original let agents claim each other's jobs), so our agent puts two jobs on "work" first.
    first = mg.queue_submit("crawl page 1", queue_name="work", priority=3)
    second = mg.queue_submit("crawl page 2", queue_name="work", priority=1)
    submitted = mg.queue_submit({"task": "scrape", "url": "https://example.com"}, priority=8)
    assert submitted["status"] == "pending" and submitted["queue_name"] == "default"
    assert re.fullmatch(r"job_[0-9a-f]{16}", submitted["job_id"])
    job = mg.queue_claim(queue_name="work")
    assert job["job_id"] == first["job_id"] and job["payload"] == "crawl page 1" and job["priority"] == 3
    status = mg.queue_status(job["job_id"])
    assert (
        status["status"] == "processing"
        and status["queue_name"] == "work"
        and ISO.match(status["started_at"])
    )
    assert mg.queue_complete(job["job_id"], result="done") == {"job_id": job["job_id"], "status": "completed"}
    done = mg.queue_status(job["job_id"])
    assert done["status"] == "completed" and done["result"] == "done"
    jobs = mg.queue_list(queue_name="work", status="pending")
    assert [j["job_id"] for j in jobs["jobs"]] == [second["job_id"]] and jobs["queue_name"] == "work"
    # the object payload the original rejected with 422 is kept as given
    assert mg.queue_status(submitted["job_id"])["priority"] == 8

    # -- Message Relay --
    # "agent_abc123" does not exist (→ 404 Recipient agent not found): a real agent, the peer, stands in. Setup:
    # the peer signals us first, so that our inbox(channel="signals") has a message to mark read.
    peer.send_message(me_id, {"signal": "sell"}, channel="signals")
    sent = mg.send_message(peer_id, {"signal": "buy", "price": 98500}, channel="signals")
    assert sent["status"] == "delivered" and sent["message_id"].startswith("msg_")
    received = peer.inbox(channel="signals")["messages"]
    assert [(m["message_id"], m["from_agent"], m["payload"]) for m in received] == [
        (sent["message_id"], me_id, {"signal": "buy", "price": 98500})
    ]
    messages = mg.inbox(channel="signals", unread_only=True)["messages"]  # the contract wraps the list
    assert [(m["from_agent"], m["channel"], m["payload"]) for m in messages] == [
        (peer_id, "signals", {"signal": "sell"})
    ]
    assert mg.mark_read(messages[0]["message_id"]) == {
        "message_id": messages[0]["message_id"],
        "status": "read",
    }
    assert mg.inbox(channel="signals", unread_only=True)["messages"] == []

    # -- Webhooks --
    hook = mg.webhook_create(
        "https://my-server.com/hook", ["message.received", "job.completed"], secret="hmac_key"
    )
    assert (hook["url"], hook["event_types"], hook["active"]) == (
        "https://my-server.com/hook",
        ["message.received", "job.completed"],
        True,
    )
    assert "secret" not in hook
    hooks = mg.webhook_list()["webhooks"]
    assert [h["webhook_id"] for h in hooks] == [hook["webhook_id"]]
    assert mg.webhook_delete(hooks[0]["webhook_id"]) == {
        "status": "deleted",
        "webhook_id": hook["webhook_id"],
    }
    assert mg.webhook_list()["webhooks"] == []

    # -- Cron Scheduling --
    created = mg.schedule_create("*/5 * * * *", {"task": "check_prices"}, priority=5)
    assert (created["cron_expr"], created["payload"], created["priority"], created["enabled"]) == (
        "*/5 * * * *",
        {"task": "check_prices"},
        5,
        True,
    )
    assert datetime.fromisoformat(created["next_run_at"]).minute % 5 == 0
    schedules = mg.schedule_list()["schedules"]
    assert [s["task_id"] for s in schedules] == [created["task_id"]]
    got = mg.schedule_get(schedules[0]["task_id"])
    assert (got["agent_id"], got["payload"], got["enabled"]) == (me_id, {"task": "check_prices"}, True)
    assert mg.schedule_toggle(schedules[0]["task_id"], enabled=False) == {
        "task_id": created["task_id"],
        "enabled": False,
    }
    assert mg.schedule_get(created["task_id"])["enabled"] is False
    assert mg.schedule_delete(schedules[0]["task_id"]) == {"status": "deleted", "task_id": created["task_id"]}
    with pytest.raises(MoltGridError) as gone:
        mg.schedule_get(created["task_id"])
    assert gone.value.status_code == 404

    # -- Shared Memory (cross-agent) --
    assert mg.shared_set(
        "market_data", "BTC_price", "98500", description="Latest BTC price", ttl_seconds=3600
    ) == {"status": "published", "namespace": "market_data", "key": "BTC_price"}
    price = mg.shared_get("market_data", "BTC_price")
    assert (price["owner_agent"], price["value"], price["description"]) == (
        me_id,
        "98500",
        "Latest BTC price",
    )
    namespaces = seed.shared_list()
    market = next(n for n in namespaces["namespaces"] if n["namespace"] == "market_data")
    assert market["entry_count"] >= 1 and market["contributor_count"] >= 1
    keys = mg.shared_list(namespace="market_data", prefix="BTC")
    assert {"owner_agent": me_id, "key": "BTC_price"}.items() <= next(
        e for e in keys["entries"] if e["owner_agent"] == me_id
    ).items()
    assert all(e["key"].startswith("BTC") for e in keys["entries"])
    assert mg.shared_delete("market_data", "BTC_price") == {
        "status": "deleted",
        "namespace": "market_data",
        "key": "BTC_price",
    }
    assert me_id not in {
        e["owner_agent"] for e in mg.shared_list(namespace="market_data", prefix="BTC")["entries"]
    }

    # -- Agent Directory --
    # Setup: the peer offers nlp and sentiment analysis and has a 5-star rating, so that the discovery calls
    # below have someone to find.
    peer.update_profile(description="NLP worker", capabilities=["nlp", "sentiment_analysis"])
    rater.rate_collaboration(peer_id, outcome="success", rating=5)
    assert mg.update_profile(
        description="Price tracker", capabilities=["alerts", "trading"], public=True
    ) == {"status": "updated", "agent_id": me_id, "public": True}
    me = mg.profile()
    assert (
        me["agent_id"],
        me["name"],
        me["description"],
        me["capabilities"],
        me["public"],
        me["available"],
    ) == (me_id, "my-bot", "Price tracker", ["alerts", "trading"], True, True)
    agents = mg.directory(capability="trading")["agents"]
    assert me_id in {a["agent_id"] for a in agents} and all("trading" in a["capabilities"] for a in agents)

    # -- Enhanced Discovery (v0.5.0) --
    results = mg.directory_search(capability="nlp", available=True, min_reputation=3.0, limit=10)
    assert peer_id in {a["agent_id"] for a in results["agents"]}
    assert all("nlp" in a["capabilities"] and a["reputation"] >= 3.0 for a in results["agents"])
    assert (
        mg.update_status(available=True, looking_for=["sentiment_analysis", "scraping"])["status"]
        == "updated"
    )
    assert mg.profile()["looking_for"] == ["sentiment_analysis", "scraping"]
    # "agent_abc123" does not exist (→ 404 Partner agent not found): the peer stands in
    collab = mg.rate_collaboration(peer_id, outcome="success", rating=5, task_type="analysis")
    assert (collab["agent_id"], collab["partner_agent"], collab["task_type"], collab["rating"]) == (
        me_id,
        peer_id,
        "analysis",
        5,
    )
    assert collab["partner_new_reputation"] == 5.0 and collab["collaboration_id"].startswith("collab_")
    matches = mg.match(need="sentiment_analysis", min_reputation=3.0)
    assert matches["need"] == "sentiment_analysis" and peer_id in {a["agent_id"] for a in matches["matches"]}
    assert me_id not in {a["agent_id"] for a in matches["matches"]}

    # -- Task Marketplace (v0.5.0) --
    # The reference's deadline "2025-12-31T23:59:59" has passed; a task past its deadline cannot be claimed and
    # its reward is refunded, so the same format one year ahead stands in.
    deadline = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%S")
    credits_before = mg.profile()["credits"]
    task = mg.marketplace_create(
        title="Analyze 1000 tweets",
        description="Sentiment analysis on dataset",
        category="nlp",
        requirements=["sentiment"],
        reward_credits=50,
        priority=5,
        tags=["nlp", "sentiment"],
        deadline=deadline,
    )
    assert task["status"] == "open" and re.fullmatch(r"mktask_[0-9a-f]{12}", task["task_id"])
    tasks = seed.marketplace_browse(category="nlp", status="open", min_reward=10)["tasks"]
    assert task["task_id"] in {t["task_id"] for t in tasks}
    assert all(t["category"] == "nlp" and t["status"] == "open" and t["reward_credits"] >= 10 for t in tasks)
    detail = seed.marketplace_get(task["task_id"])
    assert (detail["creator_agent"], detail["title"], detail["requirements"], detail["tags"]) == (
        me_id,
        "Analyze 1000 tweets",
        ["sentiment"],
        ["nlp", "sentiment"],
    )
    assert (detail["reward_credits"], detail["priority"], detail["deadline"], detail["status"]) == (
        50,
        5,
        deadline,
        "open",
    )
    # "# Worker claims" / "# Worker delivers": claiming one's own task is a 400, so the worker is the peer
    worker, worker_credits = peer, peer.profile()["credits"]
    claimed = worker.marketplace_claim(task["task_id"])
    assert claimed["task_id"] == task["task_id"] and claimed["status"] == "claimed"
    assert worker.marketplace_deliver(task["task_id"], result="73% positive") == {
        "task_id": task["task_id"],
        "status": "delivered",
    }
    assert mg.marketplace_review(task["task_id"], accept=True, rating=5) == {
        "task_id": task["task_id"],
        "status": "completed",
        "credits_awarded": 50,
    }
    assert peer.profile()["credits"] == worker_credits + 50 and mg.profile()["credits"] == credits_before - 50
    assert seed.marketplace_get(task["task_id"])["result"] == "73% positive"

    # -- Coordination Testing (v0.5.0) --
    scenario = seed.scenario_create(
        pattern="leader_election",
        agent_count=5,
        name="election_test",
        timeout_seconds=60,
        success_criteria={"min_participation": 0.8},
    )
    assert (scenario["status"], scenario["pattern"]) == ("created", "leader_election")
    scenarios = mg.test_scenario_list(pattern="leader_election", status="completed")["scenarios"]
    assert all(s["pattern"] == "leader_election" and s["status"] == "completed" for s in scenarios)
    assert scenario["scenario_id"] not in {s["scenario_id"] for s in scenarios}  # not run yet
    run = mg.test_scenario_run(scenario["scenario_id"])
    assert (run["scenario_id"], run["status"]) == (scenario["scenario_id"], "completed")
    assert run["results"]["pattern"] == "leader_election" and run["results"]["success"] is True
    assert run["results"]["elected_leader"] and run["results"]["agent_count"] == 5
    results = seed.scenario_results(scenario["scenario_id"])
    assert (results["name"], results["status"], results["success_criteria"], results["results"]) == (
        "election_test",
        "completed",
        {"min_participation": 0.8},
        run["results"],
    )
    assert scenario["scenario_id"] in {
        s["scenario_id"]
        for s in mg.test_scenario_list(pattern="leader_election", status="completed")["scenarios"]
    }

    # -- Text Utilities --
    assert mg.text_process("Check https://example.com today", operation="extract_urls")["result"]["urls"] == [
        "https://example.com"
    ]
    assert (
        mg.text_process("hello world", operation="hash_sha256")["result"]["hash"]
        == hashlib.sha256(b"hello world").hexdigest()
    )
    assert (
        mg.text_process("hello world", operation="base64_encode")["result"]["encoded"]
        == base64.b64encode(b"hello world").decode()
    )
    assert (
        mg.text_process("aGVsbG8gd29ybGQ=", operation="base64_decode")["result"]["decoded"] == "hello world"
    )
    assert mg.text_process("Hello world. How are you?", operation="tokenize_sentences")["result"][
        "sentences"
    ] == ["Hello world.", "How are you?"]
    dedup = mg.text_process("line1\nline2\nline1", operation="deduplicate_lines")["result"]
    assert dedup["lines"] == ["line1", "line2"] and dedup["removed"] == 1

    # -- System --
    health = seed.health()
    assert health["status"] == "operational" and health["version"] and ISO.match(health["timestamp"])
    # the counts are cached for a moment and may be zero when a service is slow, so only their names are checked
    assert set(health["stats"]) >= {
        "registered_agents",
        "public_agents",
        "total_jobs",
        "memory_keys_stored",
        "shared_memory_keys",
        "messages_relayed",
        "active_webhooks",
        "active_schedules",
        "websocket_connections",
    }
    stats = mg.stats()
    assert (stats["agent_id"], stats["name"], stats["collaborations_given"]) == (me_id, "my-bot", 1)
    if "queue" not in stats["degraded"]:  # a service too slow to answer in time leaves its fields null
        assert stats["jobs_submitted"] == 3
    if "relay" not in stats["degraded"]:
        assert (stats["messages_sent"], stats["messages_received"], stats["active_webhooks"]) == (1, 1, 0)
    sla = seed.sla()
    assert sla["sla_target"] == "99.9%" and set(sla["windows"]) == {"24h", "7d", "30d"}


async def test_seed_sdk_method_reference(stack):
    """Every line of the seed README's "Full SDK Method Reference", through the unchanged PyPI SDK."""
    await asyncio.to_thread(_reference, stack.base_url)


def _package_defaults(base: str) -> None:
    sender, _ = _agent(base, "compat-defaults")
    recipient, recipient_id = _agent(base, "compat-recipient")
    # send_message/inbox with the package's defaults (channel "direct", unread_only True, limit 20)
    sent = sender.send_message(recipient_id, "hello")
    inbox = recipient.inbox()
    assert inbox["channel"] == "direct" and [m["message_id"] for m in inbox["messages"]] == [
        sent["message_id"]
    ]
    # queue_complete without a result sends no query string
    job = sender.queue_submit("x")
    assert sender.queue_claim()["job_id"] == job["job_id"]
    assert sender.queue_complete(job["job_id"])["status"] == "completed"
    assert sender.queue_status(job["job_id"])["status"] == "completed"
    # test_scenario_create with its defaults (agent_count 2, timeout 60, no success_criteria)
    scenario = sender.test_scenario_create("consensus", name="defaults")
    assert scenario["status"] == "created" and scenario["pattern"] == "consensus"
    assert sender.test_scenario_run(scenario["scenario_id"])["results"]["agent_count"] == 2
    # errors surface as the package's MoltGridError with the contract's detail
    with pytest.raises(MoltGridError) as err:
        MoltGrid(api_key="af_" + "0" * 32, base_url=base).profile()
    assert err.value.status_code == 401 and err.value.detail == "Invalid API key"
    with pytest.raises(MoltGridError) as err:
        sender.send_message("agent_nope", "x")
    assert err.value.status_code == 404 and err.value.detail == "Recipient agent not found"


async def test_package_defaults_and_errors(stack):
    """The package's own defaults (which differ from the seed SDK's) and its error mapping work too."""
    await asyncio.to_thread(_package_defaults, stack.base_url)


def _v1_rest_methods(base: str, receiver_url: str) -> None:
    mg, me_id = _agent(base, "compat-v1-rest")

    # -- Onboarding: a fresh agent has only registered --
    start = mg.onboarding_start()
    assert (start["progress"], start["total"]) == (1, 7) and start["reward"].startswith("Complete all steps")
    assert [(s["id"], s["completed"]) for s in start["steps"][:2]] == [("register", True), ("memory", False)]
    mg.memory_set("first", "step")
    status = mg.onboarding_status()
    assert status["progress"] == 2 and status["steps"][1] == {
        "id": "memory",
        "title": "Store something in memory",
        "completed": True,
        "endpoint": "POST /v1/memory",
    }

    # -- Shared namespaces (1.0's path; the seed's GET /v1/shared-memory gives the same) --
    mg.shared_set("compat-v1-ns", "k", "v")
    namespaces = mg.shared_namespaces()["namespaces"]
    entry = next(n for n in namespaces if n["namespace"] == "compat-v1-ns")
    assert entry["entry_count"] == 1 and entry["contributor_count"] == 1

    # -- Webhook test: a signed test event, and the receiver's answer --
    hook = mg.webhook_create(receiver_url, ["job.completed"], secret="compat-secret")
    sent = mg.webhook_test(hook["webhook_id"])
    assert (sent["status"], sent["error"], sent["status_code"]) == ("delivered", None, 200)
    assert sent["delivery_id"].startswith("dlv_")
    with pytest.raises(MoltGridError) as missing:
        mg.webhook_test("wh_missing")
    assert missing.value.status_code == 404 and missing.value.detail == "Webhook not found"

    # -- Queue failures, dead letters and replay (the package submits with max_attempts=1) --
    job = mg.queue_submit("fragile", queue_name="compat-dl")
    assert mg.queue_claim(queue_name="compat-dl")["job_id"] == job["job_id"]
    failed = mg.queue_fail(job["job_id"], reason="upstream 502")
    # 1.0's answer (status dead_lettered, attempts, max_attempts) beside ours (attempt, retry_at)
    assert {k: failed[k] for k in ("job_id", "status", "attempts", "max_attempts", "retry_at")} == {
        "job_id": job["job_id"],
        "status": "dead_lettered",
        "attempts": 1,
        "max_attempts": 1,
        "retry_at": None,
    }
    dead = mg.queue_dead_letter(queue_name="compat-dl")
    assert [(j["job_id"], j["last_error"]) for j in dead["jobs"]] == [(job["job_id"], "upstream 502")]
    assert mg.queue_dead_letter(queue_name="compat-dl", limit=1, offset=1)["jobs"] == []
    replayed = mg.queue_replay(job["job_id"])
    assert (replayed["job_id"], replayed["status"]) == (job["job_id"], "pending") and replayed["replayed_at"]
    assert mg.queue_status(job["job_id"])["status"] == "pending"
    assert mg.queue_dead_letter(queue_name="compat-dl")["jobs"] == []
    with pytest.raises(MoltGridError) as not_dead:
        mg.queue_replay(job["job_id"])
    assert not_dead.value.status_code == 409
    # a job with attempts left goes back to pending with a retry time
    retried = mg.queue_submit("retry me", queue_name="compat-retry", max_attempts=2)
    mg.queue_claim(queue_name="compat-retry")
    again = mg.queue_fail(retried["job_id"])
    assert (again["status"], again["attempts"], again["max_attempts"], again["attempt"]) == (
        "pending_retry",
        1,
        2,
        1,
    )
    # the package sends retry_delay_seconds=0: 1.0 waits exactly that long, so the retry is due at once
    assert again["next_retry_at"] == again["retry_at"]
    assert mg.queue_status(retried["job_id"])["status"] == "pending"
    assert mg.queue_claim(queue_name="compat-retry")["job_id"] == retried["job_id"]
    assert mg.onboarding_status()["progress"] == 3  # register, memory, queue
    assert me_id == mg.profile()["agent_id"]


async def test_v1_rest_methods(stack):
    """The package's 1.0 methods for onboarding, shared namespaces, webhook tests and queue failures."""
    receiver = Receiver()
    await receiver.start()
    try:
        await asyncio.to_thread(_v1_rest_methods, stack.base_url, receiver.url)
    finally:
        await receiver.stop()
    assert [orjson.loads(body)["type"] for _, body in receiver.received] == ["webhook.test"]


def _memory_and_sessions(base: str) -> None:
    owner, owner_id = _agent(base, "compat-owner")
    friend, friend_id = _agent(base, "compat-friend")
    stranger, _ = _agent(base, "compat-stranger")

    # visibility: set on write, changed later, honoured by cross-agent reads (404 when hidden)
    assert owner.memory_set("pub", "hello", visibility="public")["visibility"] == "public"
    assert owner.memory_set("priv", "secret", namespace="notes")["visibility"] == "private"
    read = stranger.memory_read_agent(owner_id, "pub")
    assert (read["key"], read["value"], read["visibility"], read["namespace"]) == (
        "pub",
        "hello",
        "public",
        "default",
    )
    with pytest.raises(MoltGridError) as hidden:
        friend.memory_read_agent(owner_id, "priv", namespace="notes")
    assert hidden.value.status_code == 404 and hidden.value.detail == "Key not found or expired"
    assert owner.memory_set_visibility("priv", "shared", namespace="notes", shared_agents=[friend_id]) == {
        "status": "updated",
        "key": "priv",
        "visibility": "shared",
        "namespace": "notes",
    }
    assert friend.memory_read_agent(owner_id, "priv", namespace="notes")["value"] == "secret"
    with pytest.raises(MoltGridError) as hidden:
        stranger.memory_read_agent(owner_id, "priv", namespace="notes")
    assert hidden.value.status_code == 404

    # shared namespaces at the package's own path
    owner.shared_set("compat_ns", "k", "v")
    assert "compat_ns" in {n["namespace"] for n in owner.shared_namespaces()["namespaces"]}

    # sessions
    created = owner.session_create(title="chat", max_tokens=1000)
    sid = created["session_id"]
    assert (
        re.fullmatch(r"sess_[0-9a-f]{16}", sid)
        and created["title"] == "chat"
        and ISO.match(created["created_at"])
    )
    assert owner.session_append(sid, "user", "hello there") == {
        "status": "appended",
        "message_count": 1,
        "token_count": 2,
        "summarized": False,
    }
    assert owner.session_append(sid, "assistant", "hi! how can I help?")["message_count"] == 2
    session = owner.session_get(sid)
    assert session["messages"] == [
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": "hi! how can I help?"},
    ]
    assert (session["title"], session["max_tokens"], session["token_count"]) == ("chat", 1000, 9)
    assert [s["session_id"] for s in owner.session_list()["sessions"]] == [sid]
    summary = owner.session_summarize(sid)
    assert (summary["status"], summary["original_message_count"], summary["new_message_count"]) == (
        "summarized",
        2,
        2,
    )
    with pytest.raises(MoltGridError) as other:
        friend.session_get(sid)
    assert other.value.status_code == 404 and other.value.detail == "Session not found"
    assert owner.session_delete(sid) == {"status": "deleted", "session_id": sid}
    assert owner.session_list()["sessions"] == []
    untitled = owner.session_create()  # the package sends no title: 1.0's "Session YYYY-MM-DD"
    assert untitled["title"] == f"Session {untitled['created_at'][:10]}"
    assert owner.session_get(untitled["session_id"])["title"] == untitled["title"]


async def test_memory_visibility_and_session_methods(stack):
    """The package's MoltGrid 1.0 memory and session methods, called unchanged."""
    await asyncio.to_thread(_memory_and_sessions, stack.base_url)


def _events_as_in_1_0(base: str) -> None:
    sender, _ = _agent(base, "compat-ev-sender")
    recipient, recipient_id = _agent(base, "compat-ev-recipient")
    sent = [sender.send_message(recipient_id, f"e{i}")["message_id"] for i in range(2)]
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while len(listed := recipient.events()["events"]) < 2 and datetime.now(UTC) < deadline:
        time.sleep(0.2)
    assert [(e["event_type"], e["payload"]["message_id"]) for e in listed] == [
        ("relay_message", m) for m in sent
    ]
    assert all(ISO.match(e["created_at"]) and e["event_id"].startswith("evt_") for e in listed)
    # events(stream=True): 1.0's long poll answers the first unacknowledged event as JSON
    assert recipient.events(stream=True)["event_id"] == listed[0]["event_id"]
    assert recipient.events_ack([listed[0]["event_id"]]) == {"acknowledged": 1}
    assert recipient.events(stream=True)["event_id"] == listed[1]["event_id"]
    assert [e["event_id"] for e in recipient.events()["events"]] == [listed[1]["event_id"]]
    assert recipient.events_ack([e["event_id"] for e in listed]) == {"acknowledged": 1}  # one was already
    assert recipient.events()["events"] == [] and recipient.events_ack([]) == {"acknowledged": 0}
    assert sender.events()["events"] == []  # another agent's events are never visible


async def test_events_and_events_ack_as_in_1_0(stack):
    """The package's events / events_ack, unchanged, against GET /v1/events, /v1/events/stream and
    POST /v1/events/ack."""
    await asyncio.to_thread(_events_as_in_1_0, stack.base_url)


def _v1_pubsub_and_presence(base: str) -> None:
    """MoltGrid 1.0's pub/sub, heartbeat, leaderboard and directory statistics through the package's methods."""
    subscriber, subscriber_id = _agent(base, "compat-subscriber")
    publisher, _ = _agent(base, "compat-publisher")
    topic = f"compat{subscriber_id[-6:]}"
    joined = subscriber.pubsub_subscribe(f"{topic}.*")
    assert (joined["channel"], joined["status"]) == (f"{topic}.*", "subscribed") and ISO.match(
        joined["subscribed_at"]
    )
    assert subscriber.pubsub_subscribe(f"{topic}.*")["status"] == "already_subscribed"
    subs = subscriber.pubsub_subscriptions()
    assert subs["count"] == 1 and subs["subscriptions"][0]["channel"] == f"{topic}.*"
    channels = {c["channel"]: c["subscriber_count"] for c in subscriber.pubsub_channels()["channels"]}
    assert channels[f"{topic}.*"] == 1
    sent = publisher.pubsub_publish(f"{topic}.tech", {"headline": "x"})  # an object: 1.0 took only strings
    assert (
        sent["subscribers_notified"] == 1
        and sent["channel"] == f"{topic}.tech"
        and ISO.match(sent["created_at"])
    )
    inbox = subscriber.inbox(channel=f"pubsub:{topic}.tech")
    assert [m["payload"] for m in inbox["messages"]] == [{"headline": "x"}]
    assert subscriber.pubsub_unsubscribe(f"{topic}.*") == {"channel": f"{topic}.*", "status": "unsubscribed"}
    assert subscriber.pubsub_unsubscribe("never.joined") == {
        "channel": "never.joined",
        "status": "not_subscribed",
    }
    assert publisher.pubsub_publish(f"{topic}.tech", "again")["subscribers_notified"] == 0

    beat = subscriber.heartbeat()
    assert (beat["agent_id"], beat["status"]) == (subscriber_id, "online") and ISO.match(beat["heartbeat_at"])
    assert subscriber.heartbeat(status="busy", metadata={"load": 0.2})["status"] == "busy"
    assert subscriber.profile()["heartbeat_status"] == "busy"
    with pytest.raises(MoltGridError) as err:
        subscriber.heartbeat(status="sleeping")
    assert err.value.status_code == 422
    board = subscriber.leaderboard()
    assert board["sort_by"] == "reputation" and board["total_agents"] >= 2 and len(board["leaderboard"]) <= 20
    by_credits = subscriber.leaderboard(sort_by="credits", limit=5)
    assert [e["rank"] for e in by_credits["leaderboard"]] == list(
        range(1, len(by_credits["leaderboard"]) + 1)
    )
    stats = subscriber.directory_stats()
    assert (
        stats["total_agents"] >= 2 and stats["online_agents"] >= 1 and stats["total_credits_distributed"] > 0
    )


async def test_v1_pubsub_and_presence_methods(stack):
    """The package's pub/sub and presence methods, unchanged, against the 1.0 routes."""
    await asyncio.to_thread(_v1_pubsub_and_presence, stack.base_url)


def _vector_memory(base: str) -> None:
    mg, _ = _agent(base, "compat-vectors")
    assert mg.vector_upsert("doc1", "the cat sat on the mat", metadata={"t": 1}) == {
        "key": "doc1",
        "namespace": "default",
        "dimensions": 384,
        "status": "upserted",
    }
    assert mg.vector_upsert("doc2", "stock markets fell sharply today")["status"] == "upserted"
    assert mg.vector_upsert("n1", "notes about gardening", namespace="notes")["namespace"] == "notes"
    found = mg.vector_search("a kitten resting on a rug", limit=2)
    assert found["scoring"] == "cosine" and found["results"][0]["key"] == "doc1"
    assert found["results"][0]["metadata"] == {"t": 1} and found["count"] == len(found["results"]) <= 2
    assert mg.vector_search("a kitten resting on a rug", min_similarity=0.99)["results"] == []
    assert [r["key"] for r in mg.vector_search("plants", namespace="notes")["results"]] == ["n1"]
    entry = mg.vector_get("doc1")
    assert (entry["key"], entry["text"], entry["metadata"]) == ("doc1", "the cat sat on the mat", {"t": 1})
    assert ISO.match(entry["created_at"]) and ISO.match(entry["updated_at"])
    listing = mg.vector_list()
    assert listing["namespace"] == "default" and [k["key"] for k in listing["keys"]] == ["doc2", "doc1"]
    assert mg.vector_list(namespace="notes", limit=1)["count"] == 1
    assert mg.vector_delete("doc2") == {"status": "deleted", "key": "doc2", "namespace": "default"}
    with pytest.raises(MoltGridError) as err:
        mg.vector_get("doc2")
    assert err.value.status_code == 404 and err.value.detail == "Vector entry not found"
    assert mg.vector_get("n1", namespace="notes")["text"] == "notes about gardening"
    assert mg.vector_delete("n1", namespace="notes")["namespace"] == "notes"


async def test_vector_memory_methods(stack):
    """The package's vector memory methods (1.0's /v1/vector routes), called unchanged."""
    await asyncio.to_thread(_vector_memory, stack.base_url)


def _directory_interests(base: str) -> None:
    mg, agent_id = _agent(base, "compat-interests")
    topic = f"topic-{agent_id}"
    assert mg.update_profile(interests=[topic, "agents"])["status"] == "updated"
    me = mg.profile()
    assert me["interests"] == [topic, "agents"] and me["heartbeat_interval"] == 60
    assert [a["agent_id"] for a in mg.directory_search(interest=topic)["agents"]] == [agent_id]
    assert mg.directory_search(interest=f"no-such-{agent_id}") == {"agents": [], "count": 0}


async def test_directory_interests_through_the_package(stack):
    """The package's update_profile(interests=…) is stored, shown by profile() and filtered by
    directory_search(interest=…)."""
    await asyncio.to_thread(_directory_interests, stack.base_url)

"""Task graphs (/v1/tasks) through the real stack: 1.0's shapes, dependencies gating claims, cycles refused
(also when two adds race), leases that run out and return the task, the state machine's 409s and 403s, the
history and the events of every change, and one claimer winning across two coordination replicas."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared import metrics
from shared.bus import call
from shared.subjects import instance_health
from tests.conftest import Api
from tests.helpers import until

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
TASK_FIELDS = {
    "task_id",
    "creator_agent",
    "title",
    "description",
    "status",
    "priority",
    "claimed_by",
    "claimed_at",
    "lease_expires_at",
    "completed_at",
    "result",
    "metadata",
    "created_at",
    "updated_at",
    "history",
    "depends_on",
}


async def create(api: Api, title: str, **fields: Any) -> dict[str, Any]:
    status, body = await api.post("/v1/tasks", {"title": title, **fields})
    assert status == 200, body
    return body


async def events_of(api: Api, prefix: str = "task.") -> list[dict[str, Any]]:
    status, body = await api.get("/v1/events", params={"after": 0, "limit": 500})
    assert status == 200, body
    return [e for e in body["events"] if e["type"].startswith(prefix)]


async def test_the_1_0_walkthrough(alice):
    fetch = await create(alice, "fetch data", description="step 1")
    assert set(fetch) == TASK_FIELDS and re.fullmatch(r"task_[0-9a-f]{16}", fetch["task_id"])
    assert (
        fetch["creator_agent"],
        fetch["title"],
        fetch["description"],
        fetch["status"],
        fetch["priority"],
    ) == (alice.agent_id, "fetch data", "step 1", "pending", 0)
    assert fetch["claimed_by"] is fetch["result"] is fetch["metadata"] is fetch["lease_expires_at"] is None
    assert fetch["created_at"] == fetch["updated_at"] and ISO.match(fetch["created_at"])
    assert [(h["status"], h["actor"], h["timestamp"]) for h in fetch["history"]] == [
        ("pending", alice.agent_id, fetch["created_at"])
    ]
    analyse = await create(
        alice, "analyse", depends_on=[fetch["task_id"]], metadata={"k": [1, 2]}, priority=4
    )
    assert analyse["depends_on"] == [fetch["task_id"]] and analyse["metadata"] == {"k": [1, 2]}

    status, listed = await alice.get("/v1/tasks", params={"creator": alice.agent_id})
    assert status == 200 and listed["count"] == 2
    assert [t["task_id"] for t in listed["tasks"]] == [fetch["task_id"], analyse["task_id"]]
    assert set(listed["tasks"][0]) == TASK_FIELDS

    # the dependent task waits for its dependency
    status, body = await alice.post(f"/v1/tasks/{analyse['task_id']}/claim")
    assert (status, body) == (
        409,
        {"detail": f"Task is blocked by unfinished dependencies: {fetch['task_id']}"},
    )
    status, claim = await alice.post(f"/v1/tasks/{fetch['task_id']}/claim")
    assert status == 200 and set(claim) == {"task_id", "status", "claimed_by", "lease_expires_at"}
    assert (claim["task_id"], claim["status"], claim["claimed_by"]) == (
        fetch["task_id"],
        "running",
        alice.agent_id,
    )
    status, done = await alice.post(f"/v1/tasks/{fetch['task_id']}/complete", {"result": "ok"})
    assert status == 200 and (done["status"], done["result"]) == ("completed", "ok")
    assert done["lease_expires_at"] == claim["lease_expires_at"] and ISO.match(done["completed_at"])
    assert [h["status"] for h in done["history"]] == ["pending", "running", "completed"]
    assert done["history"][1]["timestamp"] == done["claimed_at"]
    assert done["history"][2]["timestamp"] == done["completed_at"] == done["updated_at"]

    status, claim = await alice.post(f"/v1/tasks/{analyse['task_id']}/claim")
    assert status == 200 and claim["status"] == "running"
    status, got = await alice.get(f"/v1/tasks/{analyse['task_id']}")
    assert (
        status == 200 and got["status"] == "running" and got["lease_expires_at"] == claim["lease_expires_at"]
    )
    lease = (datetime_of(claim["lease_expires_at"]) - datetime_of(got["claimed_at"])).total_seconds()
    assert 299 <= lease <= 301  # 1.0's five-minute lease

    # 1.0's recorded refusals
    status, body = await alice.patch(f"/v1/tasks/{analyse['task_id']}", {"status": "cancelled"})
    assert (status, body) == (409, {"detail": "Invalid transition: running -> cancelled"})
    status, body = await alice.post(f"/v1/tasks/{analyse['task_id']}/dependencies", {"depends_on": []})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "depends_on"]
    assert body["detail"][0]["type"] == "string_type"


def datetime_of(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


async def created_by(api: Api, agent_id: str) -> int:
    return (await api.get("/v1/tasks", params={"creator": agent_id, "limit": 200}))[1]["count"]


async def test_bad_input_is_refused_cleanly(alice):
    before = await created_by(alice, alice.agent_id)
    for body, loc in (
        ({}, ["body", "title"]),
        ({"title": ""}, ["body", "title"]),
        ({"title": "x" * 257}, ["body", "title"]),
        ({"title": "t", "priority": 11}, ["body", "priority"]),
        ({"title": "t", "description": "d" * 4001}, ["body", "description"]),
        ({"title": "t", "metadata": "not an object"}, ["body", "metadata"]),
        ({"title": "t", "depends_on": "task_x"}, ["body", "depends_on"]),
    ):
        status, reply = await alice.post("/v1/tasks", body)
        assert status == 422 and reply["detail"][0]["loc"] == loc, (body, reply)
    status, reply = await alice.post("/v1/tasks", {"title": "t", "depends_on": ["task_nope"]})
    assert (status, reply) == (404, {"detail": "Dependency task not found: task_nope"})
    assert await created_by(alice, alice.agent_id) == before  # nothing half-written
    assert (await alice.get("/v1/tasks/task_nope")) == (404, {"detail": "Task not found"})
    assert (await alice.post("/v1/tasks/task_nope/claim"))[0] == 404
    assert (await alice.patch("/v1/tasks/task_nope", {"status": "failed"}))[0] == 404
    task = await create(alice, "t")
    status, reply = await alice.patch(f"/v1/tasks/{task['task_id']}", {"status": "exploded"})
    assert status == 422 and reply["detail"][0]["loc"] == ["body", "status"]
    status, reply = await alice.get("/v1/tasks", params={"limit": 201})
    assert status == 422
    status, reply = await alice.post(f"/v1/tasks/{task['task_id']}/claim", params={"lease_seconds": 0})
    assert status == 422


async def test_cycles_are_refused(alice, bob):
    a, b, c = [await create(alice, n) for n in "abc"]
    dep = "/v1/tasks/{}/dependencies"
    status, body = await alice.post(dep.format(b["task_id"]), {"depends_on": a["task_id"]})
    assert status == 200 and body == {
        "task_id": b["task_id"],
        "depends_on": a["task_id"],
        "status": "added",
        "dependencies": [a["task_id"]],
    }
    assert (await alice.post(dep.format(c["task_id"]), {"depends_on": b["task_id"]}))[0] == 200
    assert (await alice.post(dep.format(a["task_id"]), {"depends_on": c["task_id"]})) == (
        409,
        {"detail": "Dependency would create a cycle"},
    )
    assert (await alice.post(dep.format(a["task_id"]), {"depends_on": a["task_id"]})) == (
        409,
        {"detail": "Dependency would create a cycle"},
    )
    # adding an existing edge again is harmless and records nothing
    status, body = await alice.post(dep.format(b["task_id"]), {"depends_on": a["task_id"]})
    assert status == 200 and body["status"] == "exists"
    got = (await alice.get(f"/v1/tasks/{b['task_id']}"))[1]
    assert [h["change"] for h in got["history"]] == ["created", "dependency_added"]
    assert got["history"][1]["depends_on"] == a["task_id"]
    # only the creator adds dependencies; the dependency must exist; only while pending
    assert (await bob.post(dep.format(a["task_id"]), {"depends_on": b["task_id"]})) == (
        403,
        {"detail": "Only the creator can add dependencies"},
    )
    assert (await alice.post(dep.format(a["task_id"]), {"depends_on": "task_nope"})) == (
        404,
        {"detail": "Dependency task not found"},
    )
    assert (await alice.post(f"/v1/tasks/{a['task_id']}/claim"))[0] == 200
    other = await create(alice, "other")
    assert (await alice.post(dep.format(a["task_id"]), {"depends_on": other["task_id"]})) == (
        409,
        {"detail": "Dependencies can only be added to a pending task (status: running)"},
    )
    # a claimable filter shows what may be claimed now
    status, body = await alice.get("/v1/tasks", params={"creator": alice.agent_id, "claimable": "true"})
    assert [t["task_id"] for t in body["tasks"]] == [other["task_id"]]


async def test_concurrent_dependency_adds_cannot_close_a_cycle(stack, alice):
    """x→y and y→x added at once, on both gateways, many times over: never both."""
    for _ in range(8):
        x, y = await create(alice, "x"), await create(alice, "y")
        replies = await asyncio.gather(
            alice.on(stack.url(0)).post(
                f"/v1/tasks/{x['task_id']}/dependencies", {"depends_on": y["task_id"]}
            ),
            alice.on(stack.url(1)).post(
                f"/v1/tasks/{y['task_id']}/dependencies", {"depends_on": x["task_id"]}
            ),
        )
        assert sorted(s for s, _ in replies) == [200, 409], replies


async def test_a_lease_that_runs_out_returns_the_task(alice, bob, register):
    carol = await register("carol")
    task = await create(alice, "leased")
    status, claim = await bob.post(f"/v1/tasks/{task['task_id']}/claim", params={"lease_seconds": 1})
    assert status == 200 and claim["claimed_by"] == bob.agent_id

    async def returned() -> dict[str, Any] | None:
        got = (await alice.get(f"/v1/tasks/{task['task_id']}"))[1]
        return got if got["status"] == "pending" else None

    got = await until("the lease to run out", returned)
    assert got["claimed_by"] is None and got["lease_expires_at"] is None
    assert [(h["change"], h["status"], h["actor"]) for h in got["history"]] == [
        ("created", "pending", alice.agent_id),
        ("claimed", "running", bob.agent_id),
        ("lease_expired", "pending", "system"),
    ]
    assert got["history"][2]["previous_claimer"] == bob.agent_id
    # the old claimer can no longer finish it; another agent claims it
    assert (await bob.post(f"/v1/tasks/{task['task_id']}/complete", {"result": "late"})) == (
        409,
        {"detail": "Invalid transition: pending -> completed"},
    )
    status, claim = await carol.post(f"/v1/tasks/{task['task_id']}/claim")
    assert status == 200 and claim["claimed_by"] == carol.agent_id

    async def expired_event() -> list[dict[str, Any]]:
        return [e for e in await events_of(bob) if e["type"] == "task.lease_expired"]

    expired = await until("task.lease_expired to the old claimer", expired_event)
    assert expired[0]["data"]["task_id"] == task["task_id"]


async def test_a_claim_on_an_expired_lease_takes_over_at_once(stack, alice, bob):
    """A claim right after a lease ran out succeeds whether the sweeper or the claim itself ended the lease;
    either way the history records the expiry."""
    task = await create(alice, "taken over")
    assert (await bob.post(f"/v1/tasks/{task['task_id']}/claim", params={"lease_seconds": 1}))[0] == 200
    await asyncio.sleep(1.1)
    status, claim = await alice.post(f"/v1/tasks/{task['task_id']}/claim")
    assert status == 200 and claim["claimed_by"] == alice.agent_id
    history = (await alice.get(f"/v1/tasks/{task['task_id']}"))[1]["history"]
    assert [h["change"] for h in history] == ["created", "claimed", "lease_expired", "claimed"]


async def test_the_state_machine(alice, bob):
    t = await create(alice, "machine")
    path = f"/v1/tasks/{t['task_id']}"
    assert (await alice.post(f"{path}/complete")) == (
        409,
        {"detail": "Invalid transition: pending -> completed"},
    )
    assert (await alice.patch(path, {"status": "waiting_input"})) == (
        409,
        {"detail": "Invalid transition: pending -> waiting_input"},
    )
    assert (await bob.post(f"{path}/claim"))[0] == 200
    assert (await bob.post(f"{path}/claim")) == (409, {"detail": "Task is not pending (status: running)"})
    # only the claimer moves a running task
    assert (await alice.post(f"{path}/complete", {"result": "x"})) == (
        403,
        {"detail": "Only the agent that claimed the task can move it to completed"},
    )
    status, body = await bob.patch(path, {"status": "waiting_input"})
    assert status == 200 and body["status"] == "waiting_input"
    status, body = await bob.patch(path, {"status": "running"})
    assert status == 200 and body["status"] == "running" and body["history"][-1]["change"] == "resumed"
    status, body = await bob.patch(path, {"status": "failed", "result": {"error": "disk full"}})
    assert status == 200 and (body["status"], body["result"]) == ("failed", {"error": "disk full"})
    # a failed task may be reopened by its creator, and claimed again
    assert (await bob.patch(path, {"status": "pending"})) == (
        403,
        {"detail": "Only the creator can move a failed task to pending"},
    )
    status, body = await alice.patch(path, {"status": "pending"})
    assert status == 200 and (body["status"], body["claimed_by"]) == ("pending", None)
    assert (await bob.post(f"{path}/claim"))[0] == 200
    status, body = await bob.post(f"{path}/complete", {"result": {"rows": 3}})
    assert status == 200 and body["result"] == {"rows": 3}
    for new in ("pending", "running", "cancelled", "failed", "completed"):  # completed is final
        assert (await bob.patch(path, {"status": new}))[1] == {
            "detail": f"Invalid transition: completed -> {new}"
        }
    # the result is shown to the creator and the claimer only
    assert (await alice.get(path))[1]["result"] == {"rows": 3}
    other = await create(bob, "b's")
    assert (await alice.patch(f"/v1/tasks/{other['task_id']}", {"status": "cancelled"})) == (
        403,
        {"detail": "Only the creator can move a pending task to cancelled"},
    )
    status, body = await bob.patch(f"/v1/tasks/{other['task_id']}", {"status": "rejected"})
    assert status == 200 and body["status"] == "rejected"
    changes = [h["change"] for h in (await alice.get(path))[1]["history"]]
    assert changes == [
        "created",
        "claimed",
        "waiting_input",
        "resumed",
        "failed",
        "reopened",
        "claimed",
        "completed",
    ]


async def test_results_are_private_to_creator_and_claimer(alice, bob, register):
    eve = await register("eve")
    task = await create(alice, "secret work", metadata={"team": "a"})
    await bob.post(f"/v1/tasks/{task['task_id']}/claim")
    await bob.post(f"/v1/tasks/{task['task_id']}/complete", {"result": "T-secret-result"})
    for api, sees in ((alice, True), (bob, True), (eve, False)):
        got = (await api.get(f"/v1/tasks/{task['task_id']}"))[1]
        assert (got["result"] == "T-secret-result") is sees and got["status"] == "completed"
        listed = (await api.get("/v1/tasks", params={"creator": alice.agent_id}))[1]["tasks"]
        assert (listed[0]["result"] == "T-secret-result") is sees


async def test_a_reopened_task_does_not_show_the_previous_claimers_result(alice, bob, register):
    carol = await register("carol")
    task = await create(alice, "reopened")
    path = f"/v1/tasks/{task['task_id']}"
    assert (await bob.post(f"{path}/claim"))[0] == 200
    status, body = await bob.patch(path, {"status": "failed", "result": "B-PRIVATE-partial-work"})
    assert status == 200 and body["result"] == "B-PRIVATE-partial-work"
    status, body = await alice.patch(path, {"status": "pending"})
    assert status == 200 and body["result"] is None
    assert (await carol.post(f"{path}/claim"))[0] == 200
    got = (await carol.get(path))[1]
    assert got["claimed_by"] == carol.agent_id and got["result"] is None
    assert "B-PRIVATE" not in str((await carol.get("/v1/tasks", params={"creator": alice.agent_id}))[1])
    # completing without a result leaves none, not the previous claimer's
    status, body = await carol.post(f"{path}/complete")
    assert status == 200 and body["result"] is None


async def test_a_lease_that_runs_out_does_not_hand_on_the_result(alice, bob, register):
    carol = await register("carol")
    task = await create(alice, "expiring")
    path = f"/v1/tasks/{task['task_id']}"
    assert (await bob.post(f"{path}/claim", params={"lease_seconds": 1}))[0] == 200
    status, body = await bob.patch(path, {"status": "waiting_input", "result": "B-PRIVATE-partial-work"})
    assert status == 200 and body["result"] == "B-PRIVATE-partial-work"
    assert (await bob.patch(path, {"status": "running"}))[0] == 200  # resumed: the 1 s lease runs again

    async def returned() -> dict[str, Any] | None:
        got = (await alice.get(path))[1]
        return got if got["status"] == "pending" else None

    got = await until("the lease to run out", returned)
    assert got["result"] is None and got["history"][-1]["change"] == "lease_expired"
    assert (await carol.post(f"{path}/claim"))[0] == 200
    assert (await carol.get(path))[1]["result"] is None


async def test_every_change_is_an_event_for_creator_and_claimer(alice, bob):
    first = await create(alice, "first")
    second = await create(alice, "second", depends_on=[first["task_id"]])
    await bob.post(f"/v1/tasks/{first['task_id']}/claim")
    await bob.post(f"/v1/tasks/{first['task_id']}/complete", {"result": "r"})

    async def alice_saw() -> list[dict[str, Any]] | None:
        evs = await events_of(alice)
        return evs if len(evs) >= 5 else None

    evs = await until("alice's task events", alice_saw)
    assert [(e["type"], e["data"]["task_id"]) for e in evs] == [
        ("task.created", first["task_id"]),
        ("task.created", second["task_id"]),
        ("task.claimed", first["task_id"]),
        ("task.completed", first["task_id"]),
        ("task.unblocked", second["task_id"]),
    ]
    assert evs[2]["data"]["claimed_by"] == bob.agent_id and evs[2]["data"]["actor"] == bob.agent_id
    assert evs[1]["data"]["depends_on"] == [first["task_id"]]
    assert "result" not in evs[3]["data"]  # content stays in the task

    async def bob_saw() -> list[str] | None:
        types = [e["type"] for e in await events_of(bob)]
        return types if len(types) >= 2 else None

    assert await until("bob's task events", bob_saw) == ["task.claimed", "task.completed"]


async def test_values_are_encrypted_at_rest(alice, db):
    task = await create(alice, "enc", description="D-plain", metadata={"m": "M-plain"})
    assert (await alice.post(f"/v1/tasks/{task['task_id']}/claim"))[0] == 200
    await alice.post(f"/v1/tasks/{task['task_id']}/complete", {"result": "R-plain"})
    row = await db.fetchrow(
        "SELECT description, metadata, result FROM coordination.tasks WHERE task_id = $1", task["task_id"]
    )
    assert all(v.startswith("ENC:") for v in row.values()), dict(row)
    got = (await alice.get(f"/v1/tasks/{task['task_id']}"))[1]
    assert (got["description"], got["metadata"], got["result"]) == ("D-plain", {"m": "M-plain"}, "R-plain")


@pytest.fixture
async def two_coordination_replicas(stack):
    """A second coordination replica for this test only; stopped and forgotten afterwards."""
    child = stack.sup.spawn("coordination", 1)
    nc = await nats.connect(stack.infra.nats_url)
    try:

        async def up() -> bool:
            return (await call(nc, instance_health("coordination", "coordination-1"), {}, timeout=0.5)).ok

        await until("a second coordination replica", up, timeout=40)
        yield nc
    finally:
        await nc.close()
        child.stop()
        stack.sup.children.pop("coordination-1", None)


async def claims_served(nc: Any) -> Counter[str]:
    """task_claim operations handled so far, by coordination replica."""
    out: Counter[str] = Counter()
    for text in await metrics.scrape_all(nc, wait=0.5):
        for family in text_string_to_metric_families(text.decode()):
            for sample in family.samples:
                if sample.name == "moltgrid_operations_total" and sample.labels.get("op") == "task_claim":
                    out[sample.labels["instance"]] += sample.value
    return out


async def test_one_claimer_wins_across_two_replicas(stack, alice, register, two_coordination_replicas):
    agents = await asyncio.gather(*(register(f"claimer{i}") for i in range(12)))
    tasks = [await create(alice, f"race {i}") for i in range(10)]
    before = await claims_served(two_coordination_replicas)
    replies = await asyncio.gather(
        *(
            a.on(stack.url(i % 2)).post(f"/v1/tasks/{t['task_id']}/claim")
            for t in tasks
            for i, a in enumerate(agents)
        )
    )
    per_task = [replies[i * len(agents) : (i + 1) * len(agents)] for i in range(len(tasks))]
    for task, answers in zip(tasks, per_task, strict=False):
        statuses = sorted(s for s, _ in answers)
        assert statuses == [200] + [409] * (len(agents) - 1), (task["task_id"], answers)
        winner = next(b["claimed_by"] for s, b in answers if s == 200)
        got = (await alice.get(f"/v1/tasks/{task['task_id']}"))[1]
        assert (got["status"], got["claimed_by"]) == ("running", winner)
        assert [h["change"] for h in got["history"]].count("claimed") == 1
    served = await claims_served(two_coordination_replicas)
    for instance in ("coordination-0", "coordination-1"):  # both replicas really decided claims
        assert served[instance] - before.get(instance, 0) > 0, served
    # and one completion wins too
    t = tasks[0]
    winner = next(
        a for a in agents if a.agent_id == next(b["claimed_by"] for s, b in per_task[0] if s == 200)
    )
    done = await asyncio.gather(
        *(
            winner.on(stack.url(i % 2)).post(f"/v1/tasks/{t['task_id']}/complete", {"result": f"r{i}"})
            for i in range(6)
        )
    )
    assert sorted(s for s, _ in done) == [200] + [409] * 5
    # leases run out once: both replicas sweep, each expired lease is ended by exactly one of them
    short = [await create(alice, f"short {i}") for i in range(6)]
    for i, t in enumerate(short):
        assert (await agents[i].post(f"/v1/tasks/{t['task_id']}/claim", params={"lease_seconds": 1}))[
            0
        ] == 200

    ids = {t["task_id"] for t in short}

    async def all_returned() -> list[dict[str, Any]] | None:
        listed = (await alice.get("/v1/tasks", params={"creator": alice.agent_id, "limit": 200}))[1]["tasks"]
        got = [t for t in listed if t["task_id"] in ids]
        return got if len(got) == len(ids) and all(g["status"] == "pending" for g in got) else None

    returned = await until("the short leases to run out", all_returned, every=0.3)
    expiries = [[h["change"] for h in g["history"]].count("lease_expired") for g in returned]
    assert expiries == [1] * len(short)


async def test_a_purged_agent_leaves_no_tasks(stack, admin, register):
    doomed, other = await register("doomed"), await register("other")
    mine = await create(doomed, "mine")
    theirs = await create(other, "theirs")
    assert (await doomed.post(f"/v1/tasks/{theirs['task_id']}/claim"))[0] == 200
    async with admin.delete(stack.url(0) + f"/admin/api/agents/{doomed.agent_id}") as r:
        assert r.status == 200

    async def purged() -> bool:
        return await created_by(other, doomed.agent_id) == 0

    await until("the doomed agent's tasks to go", purged)
    # its task is gone with its history (GET shows both, or neither)
    assert (await other.get(f"/v1/tasks/{mine['task_id']}")) == (404, {"detail": "Task not found"})
    got = (await other.get(f"/v1/tasks/{theirs['task_id']}"))[1]
    assert (got["status"], got["claimed_by"]) == ("pending", None) and got["history"][-1][
        "change"
    ] == "released"

"""Cron schedules: the contract's exchanges, then ticks driven by the test clock — two replicas, crashes
between deciding and enqueuing, time zones, catch-up, overlap, pause/resume."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest

from shared.bus import Ctx, call
from shared.runtime.embedded import Child
from shared.subjects import svc
from tests.queue_fixtures import log_size, wait_started
from tests.stack import Stack

TASK_ID = r"^sched_[0-9a-f]{12}$"
TICK_ENV = {
    "MOLTGRID_SCHEDULER_TEST_CLOCK": "true",
    "MOLTGRID_SCHEDULER_TICK_SECONDS": "0.2",
    "MOLTGRID_SCHEDULER_RESUBMIT_AFTER_SECONDS": "1",
}


def at(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


# ── the seed's routes (served by the stack's own scheduler replica, real clock) ──────────────────────────


async def test_contract_exchanges(alice, bob):
    body = {"cron_expr": "*/5 * * * *", "payload": '{"task": "check"}', "queue_name": "cron", "priority": 5}
    status, created = await alice.post("/v1/schedules", body)
    assert status == 200 and re.match(TASK_ID, created["task_id"])
    assert {k: created[k] for k in ("cron_expr", "queue_name", "payload", "priority", "enabled")} == {
        "cron_expr": "*/5 * * * *",
        "queue_name": "cron",
        "payload": '{"task": "check"}',
        "priority": 5,
        "enabled": True,
    }
    nxt = at(created["next_run_at"])
    assert re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:00\+00:00$", created["next_run_at"]
    )  # a tick: no microseconds
    assert nxt.minute % 5 == 0 and timedelta(0) < nxt - datetime.now(UTC) <= timedelta(minutes=5)
    assert created["created_at"].endswith("+00:00") and len(created["created_at"]) == 32
    task = created["task_id"]

    assert await alice.post("/v1/schedules", {"cron_expr": "not cron", "payload": "x"}) == (
        400,
        {
            "detail": "Invalid cron expression: Exactly 5, 6 or 7 columns has to be specified for iterator expression."
        },
    )

    status, listing = await alice.get("/v1/schedules")
    assert status == 200 and listing["count"] == 1
    assert {
        k: listing["schedules"][0][k]
        for k in (
            "task_id",
            "cron_expr",
            "queue_name",
            "priority",
            "enabled",
            "next_run_at",
            "last_run_at",
            "run_count",
            "created_at",
        )
    } == {
        "task_id": task,
        "cron_expr": "*/5 * * * *",
        "queue_name": "cron",
        "priority": 5,
        "enabled": True,
        "next_run_at": created["next_run_at"],
        "last_run_at": None,
        "run_count": 0,
        "created_at": created["created_at"],
    }
    status, got = await alice.get(f"/v1/schedules/{task}")
    assert status == 200 and got["agent_id"] == alice.agent_id and got["payload"] == '{"task": "check"}'
    assert (got["last_run_at"], got["run_count"], got["timezone"]) == (None, 0, "UTC")
    assert await bob.get(f"/v1/schedules/{task}") == (404, {"detail": "Scheduled task not found"})
    assert await bob.patch(f"/v1/schedules/{task}", params={"enabled": "false"}) == (
        404,
        {"detail": "Scheduled task not found"},
    )
    assert await alice.patch(f"/v1/schedules/{task}", params={"enabled": "false"}) == (
        200,
        {"task_id": task, "enabled": False},
    )
    assert (await alice.get(f"/v1/schedules/{task}"))[1]["enabled"] is False
    assert await bob.delete(f"/v1/schedules/{task}") == (404, {"detail": "Scheduled task not found"})
    assert await alice.delete(f"/v1/schedules/{task}") == (200, {"status": "deleted", "task_id": task})
    assert await alice.delete(f"/v1/schedules/{task}") == (404, {"detail": "Scheduled task not found"})
    assert await alice.get("/v1/schedules") == (200, {"schedules": [], "count": 0})


async def test_bad_input(alice):
    ok = {"cron_expr": "* * * * *", "payload": "x"}
    status, body = await alice.post("/v1/schedules", {**ok, "cron_expr": "* * * * * *"})
    assert status == 400 and "cron expression" in body["detail"] and "5 fields" in body["detail"]
    status, body = await alice.post("/v1/schedules", {**ok, "cron_expr": "61 * * * *"})
    assert status == 400 and body["detail"].startswith("Invalid cron expression")
    status, body = await alice.post("/v1/schedules", {**ok, "timezone": "Mars/Olympus_Mons"})
    assert status == 400 and "timezone" in body["detail"]
    for bad in (
        {"payload": "x"},
        {**ok, "payload": None},
        {**ok, "priority": 11},
        {**ok, "overlap": "maybe"},
        {**ok, "catchup": "sometimes"},
        {**ok, "cron_expr": "*" * 129},
        {**ok, "queue_name": ""},
        {**ok, "payload": "x" * 100_001},
    ):
        status, body = await alice.post("/v1/schedules", bad)
        assert status == 422, bad
    assert (await alice.patch("/v1/schedules/sched_nope", params={"enabled": "maybe"}))[0] == 422
    assert (await alice.get("/v1/schedules/sched_nope/runs"))[0] == 404
    assert (await alice.post("/v1/schedules/sched_nope/trigger"))[0] == 404
    assert (await alice.get("/v1/schedules"))[1]["count"] == 0  # nothing half-written


async def test_schedules_that_never_fire_or_fire_at_random_are_refused(alice):
    ok = {"cron_expr": "* * * * *", "payload": "x"}
    for never in ("0 0 31 2 *", "0 0 30 2 *"):  # 31 and 30 February
        assert await alice.post("/v1/schedules", {**ok, "cron_expr": never}) == (
            400,
            {"detail": f"Invalid cron expression: {never!r} never fires"},
        )
    for random_field in ("R * * * *", "0 R * * *", "0 0 * * R", "0 0 1,R * *"):
        status, body = await alice.post("/v1/schedules", {**ok, "cron_expr": random_field})
        assert status == 400 and "random value (R)" in body["detail"], (random_field, body)
    for not_a_zone in ("localtime", "posixrules", "Factory"):
        status, body = await alice.post("/v1/schedules", {**ok, "timezone": not_a_zone})
        assert status == 400 and "not an IANA time zone name" in body["detail"], (not_a_zone, body)
    # names that contain R stay valid: FRI, MAR, APR; so does 29 February (leap years)
    for fine in ("0 9 * * FRI", "0 9 1 MAR,APR *", "0 0 29 2 *"):
        status, body = await alice.post("/v1/schedules", {**ok, "cron_expr": fine})
        assert status == 200, (fine, body)
        await alice.delete(f"/v1/schedules/{body['task_id']}")


async def test_trigger_now_and_run_history(alice, bob):
    payload = {"task": "report", "ids": [1, 2]}
    _, created = await alice.post(
        "/v1/schedules", {"cron_expr": "0 0 1 1 *", "payload": payload, "queue_name": "manual", "priority": 3}
    )
    task = created["task_id"]
    status, fired = await alice.post(f"/v1/schedules/{task}/trigger")
    assert status == 200 and fired["status"] == "submitted" and fired["job_id"].startswith("job_")
    assert (await bob.post(f"/v1/schedules/{task}/trigger"))[0] == 404
    _, claimed = await alice.post("/v1/queue/claim", params={"queue_name": "manual"})
    assert (claimed["job_id"], claimed["payload"], claimed["priority"]) == (fired["job_id"], payload, 3)
    status, runs = await alice.get(f"/v1/schedules/{task}/runs")
    assert status == 200 and runs["count"] == 1
    assert {k: runs["runs"][0][k] for k in ("fire_at", "trigger", "status", "job_id")} == {
        "fire_at": fired["fire_at"],
        "trigger": "manual",
        "status": "submitted",
        "job_id": fired["job_id"],
    }
    _, got = await alice.get(f"/v1/schedules/{task}")
    assert got["run_count"] == 1 and got["last_run_at"] == fired["fire_at"]
    assert (await bob.get(f"/v1/schedules/{task}/runs"))[0] == 404


# ── ticks, with test-clock replicas replacing the stack's scheduler for the rest of this module ─────────


class Schedulers:
    """Test-clock scheduler replicas; the clock is moved with svc.scheduler.set_clock."""

    def __init__(self, stack: Stack, nc: Any) -> None:
        self.stack, self.nc, self.children, self.next_index = stack, nc, [], 30

    async def start(self, count: int = 2, **env: str) -> list[Child]:
        started = []
        for _ in range(count):
            name = f"scheduler-{self.next_index}"
            offset = log_size(self.stack, name)
            started.append((self.stack.sup.spawn("scheduler", self.next_index, {**TICK_ENV, **env}), offset))
            self.next_index += 1
        await asyncio.gather(*(wait_started(c, o) for c, o in started))
        self.children += [c for c, _ in started]
        return [c for c, _ in started]

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(c.stop) for c in self.children))
        for c in self.children:
            self.stack.sup.children.pop(c.name, None)
        self.children = []

    async def set_now(self, now: datetime) -> None:
        (await call(self.nc, svc("scheduler", "set_clock"), {"now": now.isoformat()}, timeout=5)).unwrap()


@pytest.fixture(scope="module")
async def schedulers(stack: Stack) -> AsyncIterator[Schedulers]:
    original = stack.replicas_of("scheduler")
    for name in original:
        stack.sup.children[name].stop()
    nc = await nats.connect(stack.infra.nats_url)
    ctl = Schedulers(stack, nc)
    await ctl.start(2)
    try:
        yield ctl
    finally:
        (await call(nc, svc("scheduler", "set_clock"), {"offset_seconds": 0}, timeout=5)).unwrap()
        await ctl.stop()
        await nc.close()
        for name in original:  # leave the shared stack as we found it
            offset = log_size(stack, name)
            await wait_started(stack.sup.spawn("scheduler", int(name.rpartition("-")[2]), {}), offset)


class Probe:
    """A schedule's state read through the services' operations, over NATS (polling over HTTP would run into
    the per-agent rate limit): run counts, fires and the jobs of a queue."""

    def __init__(self, nc: Any, agent_id: str) -> None:
        self.nc, self.ctx = nc, Ctx(agent_id=agent_id)

    async def op(self, service: str, name: str, body: dict[str, Any]) -> Any:
        return (await call(self.nc, svc(service, name), body, timeout=5, ctx=self.ctx)).unwrap()

    async def schedule(self, task_id: str) -> dict[str, Any]:
        return await self.op("scheduler", "get", {"task_id": task_id})

    async def run_count(self, task_id: str) -> int:
        return (await self.schedule(task_id))["run_count"]

    async def fires(self, task_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        runs = (await self.op("scheduler", "runs", {"task_id": task_id, "limit": 200}))["runs"]
        return [r for r in reversed(runs) if status is None or r["status"] == status]

    async def count_fires(self, task_id: str, status: str) -> int:
        return len(await self.fires(task_id, status))

    async def jobs_in(self, queue_name: str) -> int:
        queues = (await self.op("queue", "stats", {"queue_name": queue_name}))["queues"]
        keys = ("pending", "processing", "completed", "dead_letter")
        return sum(q[k] for q in queues for k in keys)


@pytest.fixture
def probe(schedulers: Schedulers, alice: Any) -> Probe:
    return Probe(schedulers.nc, alice.agent_id)


async def wait_for(read: Any, *args: Any, until: Any = lambda v: v, timeout: float = 10.0) -> Any:
    """Call read(*args) until until(value) holds or the time is up; returns the last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read(*args)
        if until(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_two_replicas_one_job_per_tick(schedulers, alice, probe):
    _, s = await alice.post(
        "/v1/schedules", {"cron_expr": "* * * * *", "payload": "tick", "queue_name": "ticks"}
    )
    first = at(s["next_run_at"])
    ticks = 12
    for k in range(ticks):
        await schedulers.set_now(first + timedelta(minutes=k, seconds=2))
        assert await wait_for(probe.run_count, s["task_id"], until=lambda v, k=k: v >= k + 1) == k + 1
    await asyncio.sleep(0.5)  # both replicas tick a few more times at the last clock
    assert await probe.run_count(s["task_id"]) == ticks
    await wait_for(probe.count_fires, s["task_id"], "submitted", until=lambda v: v == ticks)
    assert await probe.jobs_in("ticks") == ticks
    fires = await probe.fires(s["task_id"])
    assert [at(f["fire_at"]) for f in fires] == [first + timedelta(minutes=k) for k in range(ticks)]
    assert len({f["job_id"] for f in fires}) == ticks
    await alice.delete(f"/v1/schedules/{s['task_id']}")


@pytest.mark.parametrize("crash_point", ["before_submit", "after_submit"])
async def test_crash_between_deciding_and_enqueuing(schedulers, alice, probe, crash_point):
    await schedulers.stop()
    (crashy,) = await schedulers.start(1, MOLTGRID_SCHEDULER_TEST_EXIT=crash_point)
    _, s = await alice.post(
        "/v1/schedules", {"cron_expr": "* * * * *", "payload": {"n": 1}, "queue_name": "crash"}
    )
    await schedulers.set_now(at(s["next_run_at"]) + timedelta(seconds=2))
    for _ in range(100):
        if not crashy.alive():
            break
        await asyncio.sleep(0.05)
    assert crashy.proc.returncode == 137
    # a replica that answers operations but neither ticks nor re-sends within the test, to look at the fire
    await schedulers.start(
        1, MOLTGRID_SCHEDULER_TICK_SECONDS="3600", MOLTGRID_SCHEDULER_RESUBMIT_AFTER_SECONDS="3600"
    )
    (fire,) = await probe.fires(s["task_id"])
    assert (fire["status"], fire["submitted_at"]) == ("pending", None)
    assert await probe.jobs_in("crash") == (0 if crash_point == "before_submit" else 1)

    await schedulers.stop()
    await schedulers.start(2)
    assert await wait_for(probe.count_fires, s["task_id"], "submitted") == 1
    assert await probe.jobs_in("crash") == 1
    _, claimed = await alice.post("/v1/queue/claim", params={"queue_name": "crash"})
    assert claimed["payload"] == {"n": 1}
    assert [f["job_id"] for f in await probe.fires(s["task_id"])] == [claimed["job_id"]]
    assert await probe.run_count(s["task_id"]) == 1
    await alice.delete(f"/v1/schedules/{s['task_id']}")


async def test_timezones(schedulers, alice, probe):
    body = {"cron_expr": "0 9 * * *", "payload": "tz", "queue_name": "tz", "timezone": "America/New_York"}
    await schedulers.set_now(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    _, summer = await alice.post("/v1/schedules", body)
    assert summer["next_run_at"] == "2026-07-01T13:00:00+00:00" and summer["timezone"] == "America/New_York"
    await alice.patch(f"/v1/schedules/{summer['task_id']}", params={"enabled": "false"})
    await schedulers.set_now(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    _, winter = await alice.post("/v1/schedules", body)
    assert winter["next_run_at"] == "2026-12-01T14:00:00+00:00"  # 09:00 EST
    _, tokyo = await alice.post("/v1/schedules", {**body, "timezone": "Asia/Tokyo"})
    assert tokyo["next_run_at"] == "2026-12-02T00:00:00+00:00"  # 09:00 JST
    await schedulers.set_now(datetime(2026, 12, 1, 14, 0, 3, tzinfo=UTC))
    assert await wait_for(probe.run_count, winter["task_id"]) == 1
    _, runs = await alice.get(f"/v1/schedules/{winter['task_id']}/runs")
    assert runs["runs"][0]["fire_at"] == "2026-12-01T14:00:00+00:00"
    _, got = await alice.get(f"/v1/schedules/{winter['task_id']}")
    assert (
        got["next_run_at"] == "2026-12-02T14:00:00+00:00"
        and got["last_run_at"] == "2026-12-01T14:00:00+00:00"
    )
    assert (await alice.get(f"/v1/schedules/{tokyo['task_id']}"))[1]["run_count"] == 0
    for s in (summer, winter, tokyo):
        await alice.delete(f"/v1/schedules/{s['task_id']}")


async def test_catch_up_policies(schedulers, alice, probe):
    made = {}
    for policy in ("skip", "once", "all"):
        _, made[policy] = await alice.post(
            "/v1/schedules",
            {
                "cron_expr": "*/5 * * * *",
                "payload": policy,
                "queue_name": f"cu-{policy}",
                "catchup": policy,
                "catchup_window_seconds": 1800,
            },
        )
    start = at(made["skip"]["next_run_at"])
    assert {at(s["next_run_at"]) for s in made.values()} == {start}
    now = start + timedelta(hours=1, seconds=150)  # 12 ticks missed, 150 s from the nearest tick
    await schedulers.set_now(now)

    async def advanced() -> int:
        return sum([at((await probe.schedule(s["task_id"]))["next_run_at"]) > now for s in made.values()])

    await wait_for(advanced, until=lambda v: v == 3)
    await wait_for(probe.count_fires, made["all"]["task_id"], "submitted", until=lambda v: v == 6)
    assert await probe.jobs_in("cu-skip") == 0
    assert await probe.jobs_in("cu-once") == 1
    assert await probe.jobs_in("cu-all") == 6  # the ticks of the last 30 minutes
    _, once_runs = await alice.get(f"/v1/schedules/{made['once']['task_id']}/runs")
    assert [r["fire_at"] for r in once_runs["runs"]] == [(start + timedelta(hours=1)).isoformat()]
    _, all_runs = await alice.get(f"/v1/schedules/{made['all']['task_id']}/runs")
    assert sorted(at(r["fire_at"]) for r in all_runs["runs"]) == [
        start + timedelta(minutes=35 + 5 * i) for i in range(6)
    ]
    _, skipped = await alice.get(f"/v1/schedules/{made['skip']['task_id']}")
    assert skipped["run_count"] == 0 and at(skipped["next_run_at"]) == start + timedelta(minutes=65)
    for s in made.values():
        await alice.delete(f"/v1/schedules/{s['task_id']}")


async def test_overlap_skip_and_pause_resume(schedulers, alice, probe):
    _, s = await alice.post(
        "/v1/schedules",
        {"cron_expr": "* * * * *", "payload": "o", "queue_name": "overlap", "overlap": "skip"},
    )
    task, first = s["task_id"], at(s["next_run_at"])
    await schedulers.set_now(first + timedelta(seconds=2))
    assert await wait_for(probe.run_count, task) == 1
    await wait_for(probe.count_fires, task, "submitted")
    await schedulers.set_now(
        first + timedelta(minutes=1, seconds=2)
    )  # job 1 still pending → this tick is skipped
    assert await wait_for(probe.count_fires, task, "skipped") == 1
    assert await probe.run_count(task) == 1
    _, claimed = await alice.post("/v1/queue/claim", params={"queue_name": "overlap"})
    await alice.post(f"/v1/queue/{claimed['job_id']}/complete")
    await schedulers.set_now(first + timedelta(minutes=2, seconds=2))
    assert await wait_for(probe.run_count, task, until=lambda v: v == 2) == 2

    assert (await alice.patch(f"/v1/schedules/{task}", params={"enabled": "false"}))[0] == 200
    await schedulers.set_now(first + timedelta(minutes=10, seconds=2))
    await asyncio.sleep(0.6)
    assert await probe.run_count(task) == 2  # paused: nothing fires
    assert (await alice.patch(f"/v1/schedules/{task}", params={"enabled": "true"}))[0] == 200
    _, got = await alice.get(f"/v1/schedules/{task}")
    assert at(got["next_run_at"]) == first + timedelta(minutes=11)  # resumes at the next tick, no burst
    await asyncio.sleep(0.6)
    assert await probe.run_count(task) == 2
    await alice.delete(f"/v1/schedules/{task}")

"""Faults under load, on a private stack with 2 replicas of every service under load: each replica killed in
turn with SIGKILL (and respawned), NATS restarted, Postgres restarted.

The load: memory writes, relay messages, queue jobs submitted and worked (claim + complete) concurrently,
marketplace tasks driven through create → claim → deliver → review, a schedule firing every (test-clock)
minute, and webhooks for message.received and job.completed to a local receiver.

Proves afterwards: no acknowledged write is lost (memory values, messages, jobs, ledger payouts); no job was
claimed twice; no (schedule, fire time) produced two jobs; credits are conserved; the webhook event of every
stored message and completed job (acknowledged or not) was delivered. During the faults the gateway answers 200, an expected 4xx, 503 or 504 —
never 500, never a dropped connection, never slower than its timeout plus 1 s — and service resumes within
5 s of each fault (of a kill; of NATS or Postgres being back up) without restarting anything else. The
recovery times are printed (`-s`); docs/operations.md keeps a table of them.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import nats
import orjson
import pytest

from shared.bus import call
from shared.subjects import svc
from tests.helpers import Receiver
from tests.queue_fixtures import fires_of, jobs_of, log_size, wait_started
from tests.stack import Infra, Stack

pytestmark = pytest.mark.slow
REQUEST_TIMEOUT = 2.0
SERVICES = ("memory", "directory", "relay", "queue", "scheduler", "marketplace")
OUTAGE = {503, 504}  # "try again": the only failures allowed while a fault lasts
LEASE_S = 3600  # longer than the test: a job claimed once can never be claimed again legitimately
AGENTS = (
    "memory",
    "recipient",
    "sender-0",
    "sender-1",
    "sender-2",
    "jobs",
    "cron",
    "market-0",
    "market-1",
    "market-2",
    "market-3",
)


@dataclass
class Load:
    """Every request of the load generator, and what each kind of write had acknowledged."""

    base: str
    keys: dict[str, str]  # agent name -> API key
    ids: dict[str, str]  # agent name -> agent id
    statuses: list[tuple[float, str, int, float]] = field(default_factory=list)  # (time, op, status, seconds)
    problems: list[str] = field(default_factory=list)  # anomalies seen by the load (asserted empty)
    running: bool = True
    stopped_at: float = 0.0
    memory: dict[str, str] = field(default_factory=dict)  # key -> value
    messages: dict[str, str] = field(default_factory=dict)  # message_id -> payload
    jobs: set[str] = field(default_factory=set)  # submitted job ids
    claims: list[tuple[str, int]] = field(default_factory=list)  # every claim answered 200: (job_id, attempt)
    completed: list[str] = field(default_factory=list)  # job ids whose complete answered 200
    tasks: dict[str, tuple[str, int]] = field(default_factory=dict)  # created task -> (poster id, reward)
    payouts: dict[str, tuple[str, int]] = field(default_factory=dict)  # reviewed task -> (worker id, awarded)

    async def request(
        self,
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        agent: str,
        op: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        started = time.monotonic()
        try:
            async with http.request(
                method, self.base + path, json=json, params=params, headers={"X-API-Key": self.keys[agent]}
            ) as r:
                status, raw = r.status, await r.read()
        except (TimeoutError, aiohttp.ClientError):
            status, raw = -1, b""  # a dropped connection or a hang past the client's 10 s: never allowed
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw
        self.statuses.append((time.monotonic(), op, status, time.monotonic() - started))
        return status, body

    def stop(self) -> None:
        self.running, self.stopped_at = False, time.monotonic()

    def finishing(self, grace: float = 10.0) -> bool:
        """Still running, or within the grace period to finish work in hand after the stop."""
        return self.running or time.monotonic() < self.stopped_at + grace

    # ── memory ──────────────────────────────────────────────────────────────
    async def writer(self, http: aiohttp.ClientSession, w: int) -> None:
        i = 0
        while self.running:
            key, value = f"w{w}-{i}", f"value-{w}-{i}"
            status, _ = await self.request(
                http, "POST", "/v1/memory", "memory", "memory.write", json={"key": key, "value": value}
            )
            if status == 200:
                self.memory[key] = value
            i += 1
            await asyncio.sleep(0.02)

    # ── relay ───────────────────────────────────────────────────────────────
    async def sender(self, http: aiohttp.ClientSession, w: int) -> None:
        i = 0
        while self.running:
            payload = f"msg-{w}-{i}"
            status, body = await self.request(
                http,
                "POST",
                "/v1/relay/send",
                f"sender-{w}",
                "relay.send",
                json={"to_agent": self.ids["recipient"], "channel": "faults", "payload": payload},
            )
            if status == 200:
                self.messages[body["message_id"]] = payload
            i += 1
            await asyncio.sleep(0.03)

    # ── queue ───────────────────────────────────────────────────────────────
    async def producer(self, http: aiohttp.ClientSession, w: int) -> None:
        i = 0
        while self.running:
            status, body = await self.request(
                http,
                "POST",
                "/v1/queue/submit",
                "jobs",
                "queue.submit",
                json={"payload": f"job-{w}-{i}", "queue_name": "faults"},
            )
            if status == 200:
                self.jobs.add(body["job_id"])
            i += 1
            await asyncio.sleep(0.03)

    async def worker(self, http: aiohttp.ClientSession) -> None:
        while self.running:
            status, job = await self.request(
                http,
                "POST",
                "/v1/queue/claim",
                "jobs",
                "queue.claim",
                params={"queue_name": "faults", "visibility_timeout": LEASE_S},
            )
            if status != 200 or "job_id" not in job:
                await asyncio.sleep(0.05)
                continue
            self.claims.append((job["job_id"], job["attempt"]))
            outage = False
            while self.finishing():  # retry the complete through outages; the lease outlives the test
                status, body = await self.request(
                    http,
                    "POST",
                    f"/v1/queue/{job['job_id']}/complete",
                    "jobs",
                    "queue.complete",
                    params={"result": f"done-{job['job_id']}", "attempt": job["attempt"]},
                )
                if status == 200:
                    self.completed.append(job["job_id"])
                elif status in (404, 409) and not outage:
                    self.problems.append(f"complete of a live lease refused: {job} {status} {body}")
                elif status in OUTAGE:
                    outage = True
                    await asyncio.sleep(0.1)
                    continue
                break  # done, or a 404/409 after an outage: the unacknowledged attempt had completed it

    # ── marketplace ─────────────────────────────────────────────────────────
    async def market(self, http: aiohttp.ClientSession, w: int) -> None:
        """Tasks created by one agent and worked by the next; roles rotate so credits circulate."""
        i = 0
        while self.running:
            poster, worker = f"market-{(w + i) % 4}", f"market-{(w + i + 1) % 4}"
            reward = 1 + i % 3
            status, body = await self.request(
                http,
                "POST",
                "/v1/marketplace/tasks",
                poster,
                "market.create",
                json={"title": f"faults {w}-{i}", "reward_credits": reward},
            )
            i += 1
            if status != 200:
                await asyncio.sleep(0.05)
                continue
            self.tasks[body["task_id"]] = (self.ids[poster], reward)
            await self.drive(http, body["task_id"], poster, worker)

    async def drive(self, http: aiohttp.ClientSession, task: str, poster: str, worker: str) -> None:
        """claim → deliver → review(accept). After an outage the task's state is read back, since the step
        may have been applied without its answer reaching us; only then is a 409 an expected answer."""
        steps = {
            "open": (worker, "claim", None),
            "claimed": (worker, "deliver", {"result": f"result of {task}"}),
            "delivered": (poster, "review", {"accept": True, "rating": 5}),
        }
        after = {"claim": "claimed", "deliver": "delivered", "review": "completed"}
        state, uncertain = "open", False
        while state != "completed" and self.finishing():
            if state not in steps:
                self.problems.append(f"task {task} reached state {state}")
                return
            who, action, payload = steps[state]
            status, body = await self.request(
                http, "POST", f"/v1/marketplace/tasks/{task}/{action}", who, f"market.{action}", json=payload
            )
            if status == 200:
                state, uncertain = after[action], False
                if action == "review":
                    self.payouts[task] = (self.ids[worker], body["credits_awarded"])
            elif status in OUTAGE or (status == 409 and uncertain):
                uncertain = True
                await asyncio.sleep(0.1)
                state = await self.task_state(http, task, poster) or state
            else:
                self.problems.append(f"{action} of task {task}: {status} {body}")
                return

    async def task_state(self, http: aiohttp.ClientSession, task: str, poster: str) -> str | None:
        while self.finishing():
            status, body = await self.request(
                http, "GET", f"/v1/marketplace/tasks/{task}", poster, "market.get"
            )
            if status == 200:
                return body["status"]
            await asyncio.sleep(0.1)
        return None

    # ── recovery ────────────────────────────────────────────────────────────
    def recovered_after(self, fault_at: float) -> float:
        """Seconds from the fault until requests succeed again (the first success after the last failure)."""
        after = [(t, s) for t, _, s, _ in self.statuses if t >= fault_at]
        last_bad = max((t for t, s in after if s in OUTAGE or s < 0), default=None)
        if last_bad is None:
            return 0.0
        first_ok = min((t for t, s in after if s not in OUTAGE and s > 0 and t > last_bad), default=None)
        return float("inf") if first_ok is None else first_ok - fault_at


async def _wait_healthy(load: Load, since: float, limit: float = 20.0) -> float:
    """Until the last 30 answers since the fault are all successes, and at least the gateway timeout + 1 s
    has passed (a request the killed replica had taken answers 504 only then)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        recent = [s for t, _, s, _ in load.statuses if t > since]
        if (
            time.monotonic() - since > REQUEST_TIMEOUT + 1
            and len(recent) >= 30
            and not any(s in OUTAGE or s < 0 for s in recent[-30:])
        ):
            return load.recovered_after(since)
        await asyncio.sleep(0.1)
    recent = [(op, s) for _, op, s, _ in load.statuses[-15:]]
    raise AssertionError(f"no recovery within {limit}s; recent answers {recent}")


async def _clock_driver(nc: nats.NATS, load: Load) -> None:
    """Move the schedulers' test clock one minute forward every half second, so the every-minute schedule
    fires about twice a second of real time, faults or not (a set that fails is simply repeated)."""
    minute = 0
    while load.running:
        reply = await call(
            nc, svc("scheduler", "set_clock"), {"offset_seconds": 60 * (minute + 1)}, timeout=REQUEST_TIMEOUT
        )
        if reply.ok:
            minute += 1
        await asyncio.sleep(0.5)


async def _kill_and_respawn(stack: Stack, service: str, index: int) -> None:
    name = f"{service}-{index}"
    child = stack.sup.children[name]
    child.proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(child.proc.wait)
    await asyncio.sleep(0.5)
    offset = log_size(stack, name)
    await wait_started(stack.sup.spawn(service, index), offset)  # serving again before the next kill


async def _until(fn, timeout: float, every: float = 0.2) -> Any:
    """Call fn until it returns something truthy or time runs out; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        out = await fn()
        if out or time.monotonic() > deadline:
            return out
        await asyncio.sleep(every)


STACK_ENV = {
    "MOLTGRID_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
    "MOLTGRID_RATE_LIMIT_PER_MINUTE": "100000",
    "MOLTGRID_SERVICES": ",".join(SERVICES),
    "MOLTGRID_SCHEDULER_TEST_CLOCK": "true",
    "MOLTGRID_SCHEDULER_TICK_SECONDS": "0.2",
    "MOLTGRID_SCHEDULER_RESUBMIT_AFTER_SECONDS": "1",
    "MOLTGRID_ALLOW_PRIVATE_WEBHOOKS": "true",
    "MOLTGRID_WEBHOOK_RETRY_BASE_SECONDS": "0.3",
}


async def test_no_acknowledged_write_is_lost_across_kills_and_restarts(tmp_path):
    infra = Infra.start(tmp_path / "infra")
    stack = Stack(infra, await infra.create_database(), tmp_path / "logs", env=STACK_ENV)
    stack.start({s: 2 for s in SERVICES}, only=set(SERVICES))
    receiver = Receiver()
    recovery: dict[str, float] = {}  # seconds until requests succeed again, after a kill or a server's return
    outage: dict[str, float] = {}  # restarts: seconds from stopping the server until requests succeed again
    down: dict[str, float] = {}  # restarts: seconds from stopping the server until it is up again
    nc = None
    try:
        await receiver.start()
        await stack.wait_ready(timeout=120)
        nc = await nats.connect(infra.nats_servers, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            keys, ids = {}, {}
            for name in AGENTS:
                async with http.post(stack.base_url + "/v1/register", json={"name": f"faults-{name}"}) as r:
                    body = await r.json()
                    keys[name], ids[name] = body["api_key"], body["agent_id"]
            load = Load(stack.base_url, keys, ids)
            for agent, event in (("recipient", "message.received"), ("jobs", "job.completed")):
                status, _ = await load.request(
                    http,
                    "POST",
                    "/v1/webhooks",
                    agent,
                    "setup",
                    json={"url": receiver.url, "event_types": [event]},
                )
                assert status == 200
            status, schedule = await load.request(
                http,
                "POST",
                "/v1/schedules",
                "cron",
                "setup",
                json={"cron_expr": "* * * * *", "payload": "tick", "queue_name": "cron"},
            )
            assert status == 200

            tasks = [
                *(asyncio.create_task(load.writer(http, w)) for w in range(4)),
                *(asyncio.create_task(load.sender(http, w)) for w in range(3)),
                *(asyncio.create_task(load.producer(http, w)) for w in range(2)),
                *(asyncio.create_task(load.worker(http)) for _ in range(3)),
                *(asyncio.create_task(load.market(http, w)) for w in range(3)),
                asyncio.create_task(_clock_driver(nc, load)),
            ]
            await asyncio.sleep(2.0)
            faults_started = time.monotonic()

            for service in SERVICES:
                for index in (0, 1):  # the other replica serves meanwhile
                    at = time.monotonic()
                    await _kill_and_respawn(stack, service, index)
                    recovery[f"kill -9 {service}-{index}"] = await _wait_healthy(load, at)

            for label, server in (("NATS restart", infra.servers[0]), ("Postgres restart", infra.servers[1])):
                at = time.monotonic()
                await asyncio.to_thread(server.stop)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(server.start)
                back = time.monotonic()
                down[label] = back - at  # stop (a checkpoint, for Postgres) + 1 s + start
                outage[label] = await _wait_healthy(load, at)
                recovery[label] = max(0.0, outage[label] - (back - at))  # once the server is back up

            faults_seconds = time.monotonic() - faults_started
            load.stop()
            await asyncio.gather(*tasks)

            # During the faults: only successes, expected refusals and prompt 503/504.
            assert load.problems == []
            by_op = Counter((op, s) for _, op, s, _ in load.statuses)
            unexpected = {
                k: n
                for k, n in by_op.items()
                if k[1] != 200
                and k[1] not in OUTAGE
                and not (k[0].startswith("market.") and k[1] == 409)
                and not (k[0] == "queue.complete" and k[1] in (404, 409))
            }
            assert unexpected == {}, unexpected  # never a 500, never a dropped connection
            slowest = max(d for _, _, _, d in load.statuses)
            assert slowest < REQUEST_TIMEOUT + 1, slowest  # no hung request

            await _check_memory(http, load)
            messages = await _check_inbox(http, load)
        completed = await _check_queue(nc, load)
        db = await asyncpg.connect(stack.database_url)
        try:
            await _check_marketplace(db, load)
        finally:
            await db.close()
        fires = await _check_scheduler(nc, schedule["task_id"], ids["cron"])
        checked_at = time.monotonic()
        await _check_webhooks(receiver, messages, completed)
        webhooks_seconds = time.monotonic() - checked_at
    finally:
        if nc is not None:
            await nc.close()
        await receiver.stop()
        stack.stop()
        infra.stop()
    print(
        f"\nfaults: {faults_seconds:.0f} s under load, {len(load.statuses)} requests; acknowledged:"
        f" {len(load.memory)} values, {len(load.messages)} messages, {len(load.jobs)} jobs"
        f" ({len(load.completed)} completed), {len(load.payouts)} paid tasks; {fires} schedule fires;"
        f" {len(receiver.events)} webhook events in {receiver.deliveries} deliveries;"
        f" slowest answer {slowest:.2f} s; the last webhook arrived {webhooks_seconds:.0f} s after the checks"
    )
    print("answers other than 200:", {f"{op} {s}": n for (op, s), n in sorted(by_op.items()) if s != 200})
    print("recovery seconds:", {k: round(v, 2) for k, v in recovery.items()})
    print(
        "outage seconds (server stopped → requests succeed):",
        {k: round(v, 2) for k, v in outage.items()},
        "of which the server was down:",
        {k: round(v, 2) for k, v in down.items()},
    )
    assert all(v <= 5.0 for v in recovery.values()), recovery


async def _check_memory(http: aiohttp.ClientSession, load: Load) -> None:
    """Every acknowledged value is readable."""
    assert len(load.memory) > 100
    missing = []

    async def check(k: str, v: str) -> None:
        status, body = await load.request(http, "GET", f"/v1/memory/{k}", "memory", "check")
        if status != 200 or body["value"] != v:
            missing.append(k)

    items = list(load.memory.items())
    for start in range(0, len(items), 25):
        await asyncio.gather(*(check(k, v) for k, v in items[start : start + 25]))
    assert missing == []


async def _check_inbox(http: aiohttp.ClientSession, load: Load) -> set[str]:
    """Every acknowledged message is in the recipient's inbox exactly once; returns the inbox's ids."""
    assert len(load.messages) > 50
    inbox: list[dict[str, Any]] = []
    while True:
        status, page = await load.request(
            http,
            "GET",
            "/v1/relay/inbox",
            "recipient",
            "check",
            params={"channel": "faults", "unread_only": "false", "limit": 100, "offset": len(inbox)},
        )
        assert status == 200
        inbox += page["messages"]
        if page["count"] < 100:
            break
    ids_seen = Counter(m["message_id"] for m in inbox)
    payloads_seen = Counter(m["payload"] for m in inbox)
    assert [i for i in load.messages if ids_seen[i] != 1] == []
    assert [p for p in load.messages.values() if payloads_seen[p] != 1] == []
    return set(ids_seen)


async def _check_queue(nc: Any, load: Load) -> set[str]:
    """Acknowledged submits exist; no job claimed twice (answered or not); none completed twice.
    Returns every completed job, acknowledged or not."""
    assert len(load.jobs) > 50 and len(load.claims) > 20
    jobs = {j["job_id"]: j for j in await jobs_of(nc, load.ids["jobs"], "faults")}
    assert sorted(load.jobs - set(jobs)) == []
    assert [j for j, n in Counter(job for job, _ in load.claims).items() if n > 1] == []
    assert [j for j, r in jobs.items() if r["attempts"] > 1] == []  # claims whose answer was lost included
    assert [j for j, n in Counter(load.completed).items() if n > 1] == []
    assert [j for j in load.completed if jobs[j]["status"] != "completed"] == []
    return {j for j, r in jobs.items() if r["status"] == "completed"}


async def _check_marketplace(db: asyncpg.Connection, load: Load) -> None:
    """Credits conserved; every acknowledged task held its reward; every acknowledged payout exactly once."""
    assert len(load.payouts) > 10
    totals = await db.fetchrow(
        "SELECT (SELECT coalesce(sum(balance), 0) FROM marketplace.accounts) AS balances,"
        " (SELECT coalesce(sum(amount), 0) FROM marketplace.escrow WHERE status = 'held') AS held,"
        " (SELECT coalesce(sum(amount), 0) FROM marketplace.ledger WHERE kind = 'grant') AS granted"
    )
    assert totals["balances"] + totals["held"] == totals["granted"], dict(totals)
    assert (
        await db.fetch(
            "SELECT a.agent_id FROM marketplace.accounts a LEFT JOIN (SELECT agent_id, sum(amount) AS s"
            " FROM marketplace.ledger GROUP BY agent_id) l USING (agent_id)"
            " WHERE a.balance <> coalesce(l.s, 0)"
        )
        == []
    )
    assert (
        await db.fetch(
            "SELECT e.task_id FROM marketplace.escrow e JOIN marketplace.tasks t USING (task_id)"
            " WHERE (e.status = 'held') <> (t.status IN ('open', 'claimed', 'delivered'))"
        )
        == []
    )
    entries = await db.fetch(
        "SELECT kind, task_id, agent_id, amount FROM marketplace.ledger WHERE kind IN ('hold', 'payout')"
    )
    assert [k for k, n in Counter((r["kind"], r["task_id"]) for r in entries).items() if n > 1] == []
    paid = {r["task_id"]: (r["agent_id"], r["amount"]) for r in entries if r["kind"] == "payout"}
    held = {r["task_id"]: (r["agent_id"], -r["amount"]) for r in entries if r["kind"] == "hold"}
    assert {t: paid.get(t) for t, want in load.payouts.items() if paid.get(t) != want} == {}
    assert {t: held.get(t) for t, want in load.tasks.items() if held.get(t) != want} == {}


async def _check_scheduler(nc: Any, task_id: str, agent_id: str) -> int:
    """The schedule kept firing through the faults, and each (schedule, fire time) made exactly one job."""

    async def none_pending() -> bool:
        return all(f["status"] != "pending" for f in await fires_of(nc, agent_id, task_id))

    await _until(none_pending, 20)  # re-submits after 1 s
    fires = await fires_of(nc, agent_id, task_id)
    assert len(fires) > 20 and {f["status"] for f in fires} == {"submitted"}
    assert len({f["fire_at"] for f in fires}) == len(fires)
    jobs = await jobs_of(nc, agent_id, "cron")
    assert len(jobs) == len(fires)  # no job without its fire, no fire with two
    assert sorted(j["job_id"] for j in jobs) == sorted(f["job_id"] for f in fires)
    return len(fires)


async def _check_webhooks(receiver: Receiver, messages: set[str], completed: set[str]) -> None:
    """The event of every stored message and completed job was delivered (at least once: deduplicated by
    webhook-id), including writes whose answer was lost: the event commits with the write."""

    def undelivered() -> dict[str, list[str]]:
        return {
            "message.received": sorted(messages - receiver.delivered("message.received", "message_id")),
            "job.completed": sorted(completed - receiver.delivered("job.completed", "job_id")),
        }

    async def all_delivered() -> bool:
        return not any(undelivered().values())

    await _until(all_delivered, 60)
    assert undelivered() == {"message.received": [], "job.completed": []}

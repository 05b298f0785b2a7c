"""Scale-out on one machine: a 3-node NATS cluster (JetStream replicas = 3), one Postgres, 2 gateways and
2 replicas of every service, all on loopback.

Every check runs twice: on the healthy cluster, then again after the NATS node most clients were connected
to was SIGKILLed in the middle of a write load (it stays down). The checks: queue claims exactly once, one
scheduler job per (schedule, fire time), one winner of a marketplace race and the credits invariant,
WebSocket push across gateways (also on a socket opened before the kill), webhook delivery of every event
(also of the events produced while the node was going down), and both replicas of each service serving.
The time the system took to resume after the kill is printed, not asserted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import nats
import orjson
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared import metrics
from shared.bus import Ctx, call
from shared.runtime.embedded import EmbeddedNats
from shared.subjects import instance_health, svc
from tests.conftest import Api
from tests.helpers import Receiver, until
from tests.queue_fixtures import fires_of, jobs_of
from tests.stack import Infra, Stack, selected_components
from tests.test_marketplace import STARTING, assert_invariant

pytestmark = [pytest.mark.slow, pytest.mark.timeout(170)]

HEALTHY, KILLED = "three_nodes", "one_node_killed"
SERVICES = [c for c in selected_components() if c != "gateway"]
OK_DURING_FAULT = {200, 503, 504}
NOT_SERVING = ("health", "describe")  # operations every replica answers without serving a request
ENV = {
    "MOLTGRID_JETSTREAM_REPLICAS": "3",
    "MOLTGRID_REQUEST_TIMEOUT": "3",
    "MOLTGRID_RATE_LIMIT_PER_MINUTE": "0",
    "MOLTGRID_SERVICES": ",".join(SERVICES),
    "MOLTGRID_LOG_FORMAT": "json",
    "MOLTGRID_ALLOW_PRIVATE_WEBHOOKS": "true",
    "MOLTGRID_WEBHOOK_RETRY_BASE_SECONDS": "0.3",
    "MOLTGRID_SCHEDULER_TEST_CLOCK": "true",
    "MOLTGRID_SCHEDULER_TICK_SECONDS": "0.2",
    "MOLTGRID_SCHEDULER_RESUBMIT_AFTER_SECONDS": "1",
}


@dataclass
class Load:
    """Writers on both gateways (relay sends to a webhooked agent, memory writes) while a node dies."""

    senders: list[Api]
    to_agent: str
    requests: list[tuple[float, float, int]] = field(default_factory=list)  # (started, answered, status)
    sent: dict[str, float] = field(default_factory=dict)  # acknowledged message id → when it was sent
    unknown_sends: int = 0  # sends answered 503/504: the message may or may not have been stored
    running: bool = True

    async def writer(self, api: Api, w: int) -> None:
        i = 0
        while self.running:
            started = time.monotonic()
            try:
                if i % 2:
                    message = {"to_agent": self.to_agent, "payload": [w, i]}
                    status, body = await api.post("/v1/relay/send", message)
                    if status == 200:
                        self.sent[body["message_id"]] = started
                    else:
                        self.unknown_sends += 1
                else:
                    status, _ = await api.post("/v1/memory", {"key": f"w{w}-{i}", "value": str(i)})
            except aiohttp.ClientError:
                status = -1
            self.requests.append((started, time.monotonic(), status))
            i += 1
            await asyncio.sleep(0.02)

    async def resumed(self, killed_at: float, settle: float, limit: float = 30.0) -> float:
        """Seconds from the kill until requests succeed again: the start of the first success that followed
        the start of the last failure (requests lost in flight at the kill fail only after the request
        timeout, so this waits `settle` seconds and then for 10 successes in a row)."""

        async def recovered() -> float | None:
            if time.monotonic() - killed_at < settle:
                return None
            answered = sorted((end, status) for _, end, status in self.requests if end >= killed_at)
            if len(answered) < 10 or any(status != 200 for _, status in answered[-10:]):
                return None
            failed = [start for start, end, status in self.requests if end >= killed_at and status != 200]
            if not failed:
                return 1e-9
            return max(
                1e-9,
                min(start for start, _, status in self.requests if status == 200 and start > max(failed))
                - killed_at,
            )

        return await until("requests to succeed again", recovered, limit)


@dataclass
class Topology:
    infra: Infra
    stack: Stack
    http: aiohttp.ClientSession
    nc: Any
    db: asyncpg.Pool
    receiver: Receiver
    agents: int = 0
    old_socket: aiohttp.ClientWebSocketResponse | None = None
    old_socket_agent: str = ""
    old_frames: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    load: Load | None = None
    load_hook_agent: str = ""
    ops_at_kill: dict[tuple[str, str], float] = field(default_factory=dict)
    resume: dict[str, float] = field(default_factory=dict)

    def api(self, gateway: int, agent: Api | None = None) -> Api:
        base = self.stack.url(gateway)
        return agent.on(base) if agent else Api(self.http, base)

    async def register(self, name: str, gateway: int = 0) -> Api:
        self.agents += 1
        status, body = await self.api(gateway).post("/v1/register", {"name": f"{name}-{self.agents}"})
        assert status == 200, body
        return Api(self.http, self.stack.url(gateway), body["api_key"], body["agent_id"])

    def delivered(self, agent_id: str) -> dict[str, str]:
        """message id → webhook-id of every message.received delivery to agent_id's webhook (deduplicated)."""
        out: dict[str, str] = {}
        for headers, body in self.receiver.received:
            event = orjson.loads(body)
            if event["agent_id"] == agent_id and event["type"] == "message.received":
                webhook_id = headers["webhook-id"]
                assert out.setdefault(event["data"]["message_id"], webhook_id) == webhook_id
        return out

    async def operations_by_instance(self) -> dict[tuple[str, str], float]:
        """(service, instance) → business operations handled so far (health and describe excluded)."""
        out: Counter[tuple[str, str]] = Counter()
        for text in await metrics.scrape_all(self.nc, wait=0.5):
            for family in text_string_to_metric_families(text.decode()):
                for sample in family.samples:
                    labels = sample.labels
                    if sample.name == "moltgrid_operations_total" and labels["op"] not in NOT_SERVING:
                        out[(labels["service"], labels["instance"])] += sample.value
        return dict(out)


def client_connections(node: EmbeddedNats) -> int:
    """Established client connections on the node's client port (routes use the cluster port)."""
    assert node.child is not None
    conns = psutil.Process(node.child.proc.pid).net_connections(kind="tcp")
    return sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == node.port)


@pytest.fixture(scope="module")
async def topo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Topology]:
    root: Path = tmp_path_factory.mktemp("scaleout")
    infra = Infra.start(root / "infra", nats_cluster=3, fast_unsafe=True)
    stack = Stack(infra, await infra.create_database(), root / "logs", env=ENV)
    receiver = Receiver()
    try:
        await receiver.start()  # first: its port was only found free, nothing holds it until it listens
        await infra.wait_jetstream()
        stack.start({s: 2 for s in SERVICES}, gateways=2)
        await stack.wait_ready(timeout=120)
        await every_replica_ready(infra, 60)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            nc = await nats.connect(infra.nats_servers, reconnect_time_wait=0.5, max_reconnect_attempts=-1)
            db = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=4)
            topo = Topology(infra, stack, http, nc, db, receiver)
            # A socket opened on the healthy cluster and kept through the kill (read continuously, so the
            # gateway's heartbeat pings are answered).
            owner = await topo.register("old-socket", 1)
            topo.old_socket_agent = owner.agent_id
            topo.old_socket = await http.ws_connect(
                f"{stack.url(1)}/v1/relay/ws", params={"api_key": owner.key}
            )
            reader = asyncio.create_task(_read_into(topo.old_socket, topo.old_frames))
            try:
                yield topo
            finally:
                reader.cancel()
                await topo.old_socket.close()
                await db.close()
                await nc.close()
    except BaseException:
        stack.dump_logs()
        raise
    finally:
        await receiver.stop()
        await asyncio.to_thread(stack.stop)
        await asyncio.to_thread(infra.stop)


async def every_replica_ready(infra: Infra, timeout: float) -> None:
    """wait_ready hears one replica of each service; here every replica must answer on its own subject."""
    nc = await nats.connect(infra.nats_servers)
    try:
        for service in SERVICES:
            for i in range(2):

                async def answers(subject: str = instance_health(service, f"{service}-{i}")) -> bool:
                    return (await call(nc, subject, {}, timeout=1)).ok

                await until(f"{service}-{i} to start", answers, timeout)
    finally:
        await nc.close()


async def _read_into(ws: aiohttp.ClientWebSocketResponse, frames: asyncio.Queue[dict[str, Any]]) -> None:
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await frames.put(orjson.loads(msg.data))


@pytest.fixture(scope="module", params=[HEALTHY, KILLED])
async def phase(request: pytest.FixtureRequest, topo: Topology) -> str:
    """Tests run first on the healthy cluster; then one node is SIGKILLed under load and they run again."""
    if request.param == KILLED:
        await kill_busiest_node_under_load(topo)
    return str(request.param)


async def kill_busiest_node_under_load(topo: Topology) -> None:
    senders = [await topo.register("load-sender", g % 2) for g in range(6)]
    hooked = await topo.register("load-hooked", 0)
    status, _ = await hooked.post(
        "/v1/webhooks", {"url": topo.receiver.url, "event_types": ["message.received"]}
    )
    assert status == 200
    load = Load(senders, hooked.agent_id)
    topo.load, topo.load_hook_agent = load, hooked.agent_id
    writers = [asyncio.create_task(load.writer(topo.api(w % 2, api), w)) for w, api in enumerate(senders)]
    try:
        await asyncio.sleep(1.5)
        topo.ops_at_kill = await topo.operations_by_instance()
        nodes = topo.infra.nats_nodes
        clients = [client_connections(n) for n in nodes]
        victim = nodes[clients.index(max(clients))]
        leader = (await topo.nc.jetstream().stream_info("EVENTS")).cluster.leader
        print(
            f"\nclient connections per node {dict(zip([f'moltgrid-{n.port}' for n in nodes], clients, strict=False))};"
            f" EVENTS stream leader {leader}; killing moltgrid-{victim.port}"
        )
        killed_at = time.monotonic()
        victim.kill()
        settle = float(ENV["MOLTGRID_REQUEST_TIMEOUT"]) + 1
        topo.resume["requests"] = await load.resumed(killed_at, settle)
        # Events: the first webhook delivery of a message sent after the kill (JetStream has a leader again).
        await until(
            "an event produced after the kill to reach the webhook",
            lambda: _delivered_after(topo, killed_at),
            timeout=60,
        )
        topo.resume["events"] = time.monotonic() - killed_at
        await asyncio.sleep(1.0)  # a little more load on the two surviving nodes
    finally:
        load.running = False
        await asyncio.gather(*writers)
    after = Counter(status for _, end, status in load.requests if end >= killed_at)
    print(
        "resume after the kill, seconds:",
        {k: round(v, 2) for k, v in topo.resume.items()},
        f"(statuses of the requests answered after the kill: {dict(after)})",
    )
    # never a 500, never a dropped connection
    assert {status for _, _, status in load.requests} <= OK_DURING_FAULT


async def _delivered_after(topo: Topology, t: float) -> bool:
    assert topo.load is not None
    delivered = topo.delivered(topo.load_hook_agent)
    return any(sent > t for mid, sent in topo.load.sent.items() if mid in delivered)


# ── the checks (each runs once per phase) ──────────────────────────────────────────────────────────────


async def test_queue_claims_each_job_exactly_once(topo: Topology, phase: str):
    owner = await topo.register("queue-owner")
    q = {"queue_name": f"scale-{phase}"}
    jobs = 60
    submitted = await asyncio.gather(
        *(topo.api(i % 2, owner).post("/v1/queue/submit", {"payload": i, **q}) for i in range(jobs))
    )
    assert all(status == 200 for status, _ in submitted), submitted
    claimed: list[int] = []
    completes: list[int] = []

    async def worker(api: Api) -> None:
        while True:
            status, body = await api.post("/v1/queue/claim", params=q)
            assert status == 200, body
            if "job_id" not in body:
                return
            claimed.append(body["payload"])
            status, _ = await api.post(
                f"/v1/queue/{body['job_id']}/complete", params={"result": "ok", "attempt": body["attempt"]}
            )
            completes.append(status)

    await asyncio.gather(*(worker(topo.api(w % 2, owner)) for w in range(10)))  # 5 workers per gateway
    assert sorted(claimed) == list(range(jobs))  # every job claimed exactly once
    assert completes == [200] * jobs  # and completed once
    rows = await jobs_of(topo.nc, owner.agent_id, q["queue_name"])
    assert [(r["status"], r["attempts"]) for r in rows] == [("completed", 1)] * jobs
    _, stats = await owner.get("/v1/queue/stats", params=q)
    assert {k: stats["queues"][0][k] for k in ("pending", "processing", "completed")} == {
        "pending": 0,
        "processing": 0,
        "completed": jobs,
    }


async def test_scheduler_fires_one_job_per_tick_with_two_replicas(topo: Topology, phase: str):
    owner = await topo.register("sched-owner")
    queue_name = f"ticks-{phase}"
    status, s = await owner.post(
        "/v1/schedules", {"cron_expr": "* * * * *", "payload": phase, "queue_name": queue_name}
    )
    assert status == 200, s
    task_id, first = s["task_id"], datetime.fromisoformat(s["next_run_at"])
    ticks = 5

    async def run_count() -> int:
        body = {"task_id": task_id}
        reply = await call(
            topo.nc, svc("scheduler", "get"), body, timeout=5, ctx=Ctx(agent_id=owner.agent_id)
        )
        return int(reply.unwrap()["run_count"])

    for k in range(ticks):  # the test clock (shared by both replicas through Postgres) moves a minute a step
        now = first + timedelta(minutes=k, seconds=2)
        (await call(topo.nc, svc("scheduler", "set_clock"), {"now": now.isoformat()}, timeout=5)).unwrap()

        async def fired(k: int = k) -> bool:
            return await run_count() >= k + 1

        await until(f"tick {k}", fired)
    await asyncio.sleep(0.6)  # both replicas tick a few more times at the last clock
    assert await run_count() == ticks

    async def all_submitted() -> bool:
        fires = await fires_of(topo.nc, owner.agent_id, task_id)
        return sum(f["status"] == "submitted" for f in fires) == ticks

    await until("every fire submitted", all_submitted)
    fires = await fires_of(topo.nc, owner.agent_id, task_id)
    assert [datetime.fromisoformat(f["fire_at"]) for f in fires] == [
        first + timedelta(minutes=k) for k in range(ticks)
    ]
    jobs = await jobs_of(topo.nc, owner.agent_id, queue_name)
    assert sorted(j["job_id"] for j in jobs) == sorted(f["job_id"] for f in fires)  # one job per fire time


async def test_one_winner_of_a_marketplace_race_and_the_credits_invariant(topo: Topology, phase: str):
    poster = await topo.register("poster")
    racers = await asyncio.gather(*(topo.register("racer", i % 2) for i in range(30)))
    status, task = await poster.post(
        "/v1/marketplace/tasks", {"title": f"race {phase}", "reward_credits": 25}
    )
    assert status == 200, task
    replies = await asyncio.gather(
        *(
            topo.api(i % 2, a).post(f"/v1/marketplace/tasks/{task['task_id']}/claim")
            for i, a in enumerate(racers)
        )
    )
    assert sorted(s for s, _ in replies) == [200] + [409] * (len(racers) - 1), replies
    winner = next(a for a, (s, _) in zip(racers, replies, strict=False) if s == 200)
    assert (
        await topo.api(1, winner).post(f"/v1/marketplace/tasks/{task['task_id']}/deliver", {"result": "won"})
    )[0] == 200
    review = {"accept": True, "rating": 5}
    reviews = await asyncio.gather(
        *(
            topo.api(i % 2, poster).post(f"/v1/marketplace/tasks/{task['task_id']}/review", review)
            for i in range(4)
        )
    )
    assert sorted(s for s, _ in reviews) == [200, 409, 409, 409]
    assert (await winner.get("/v1/credits"))[1]["balance"] == STARTING + 25
    await assert_invariant(topo.db)
    granted = await topo.db.fetchval("SELECT sum(amount) FROM marketplace.ledger WHERE kind = 'grant'")
    stats = (await call(topo.nc, svc("marketplace", "global_stats"), {}, timeout=5)).unwrap()
    assert stats["credits_in_circulation"] == granted


async def test_websocket_push_across_gateways(topo: Topology, phase: str):
    for sock_gw, send_gw in ((1, 0), (0, 1)):
        sender = await topo.register("ws-sender", send_gw)
        recipient = await topo.register("ws-recipient", sock_gw)
        async with topo.http.ws_connect(
            f"{topo.stack.url(sock_gw)}/v1/relay/ws", params={"api_key": recipient.key, "hello": "1"}
        ) as ws:
            assert (await ws.receive_json(timeout=5))["event"] == "connected"
            status, body = await sender.post(
                "/v1/relay/send", {"to_agent": recipient.agent_id, "payload": phase}
            )
            assert status == 200, body
            frame = await ws.receive_json(timeout=10)
            assert (frame["event"], frame["message_id"], frame["payload"]) == (
                "message.received",
                body["message_id"],
                phase,
            )
    # The socket opened before the kill still gets pushes (its gateway resubscribed after reconnecting).
    sender = await topo.register("old-socket-sender", 0)
    status, body = await sender.post("/v1/relay/send", {"to_agent": topo.old_socket_agent, "payload": phase})
    assert status == 200
    while True:
        frame = await asyncio.wait_for(topo.old_frames.get(), 10)
        if frame.get("message_id") == body["message_id"]:
            assert frame["payload"] == phase
            break


async def test_webhooks_deliver_every_event(topo: Topology, phase: str):
    sender, hooked = await topo.register("hook-sender", 1), await topo.register("hooked", 0)
    status, _ = await hooked.post(
        "/v1/webhooks", {"url": topo.receiver.url, "event_types": ["message.received"]}
    )
    assert status == 200
    sent = []
    for i in range(12):
        status, body = await topo.api(i % 2, sender).post(
            "/v1/relay/send", {"to_agent": hooked.agent_id, "payload": i}
        )
        assert status == 200, body
        sent.append(body["message_id"])

    async def all_delivered() -> bool:
        return set(topo.delivered(hooked.agent_id)) >= set(sent)

    await until("every message.received event delivered", all_delivered, timeout=30)
    assert set(topo.delivered(hooked.agent_id)) == set(sent)
    if phase == KILLED:  # including every event of the load during which the node was killed
        assert topo.load is not None and len(topo.load.sent) > 20

        async def load_delivered() -> bool:
            return set(topo.delivered(topo.load_hook_agent)) >= set(topo.load.sent)

        await until("every event of the load delivered", load_delivered, timeout=30)
        # More may arrive: a send answered 504 may have been stored (its reply was lost with the node).
        extra = set(topo.delivered(topo.load_hook_agent)) - set(topo.load.sent)
        assert len(extra) <= topo.load.unknown_sends
        stored = await topo.db.fetchval(
            "SELECT count(*) FROM relay.messages WHERE to_agent = $1 AND message_id = ANY($2::text[])",
            topo.load_hook_agent,
            list(extra),
        )
        assert stored == len(extra)


async def test_both_replicas_of_every_service_serve(topo: Topology, phase: str):
    for service in SERVICES:
        for i in range(2):
            reply = await call(topo.nc, instance_health(service, f"{service}-{i}"), {}, timeout=2)
            assert reply.ok and reply.data["instance"] == f"{service}-{i}", (service, i, reply)
    served = await topo.operations_by_instance()
    since = topo.ops_at_kill if phase == KILLED else {}  # after the kill: requests served since the kill
    exercised = {"directory", "queue", "scheduler", "relay", "marketplace"}
    idle = [
        (s, f"{s}-{i}")
        for s in sorted(exercised & set(SERVICES))
        for i in range(2)
        if served.get((s, f"{s}-{i}"), 0) - since.get((s, f"{s}-{i}"), 0) <= 0
    ]
    assert idle == [], f"replicas that served no request: {idle}; served: {served}"

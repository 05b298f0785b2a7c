"""The shared-process layout (the default of `moltgrid up`): services-<i> hosts replica i of every service.

The rest of the suite runs one process per service (tests/conftest.py, test_faults, test_scaleout), as
compose and k8s do; this module runs the shared layout on its own NATS (with its monitoring port, to see
each service's connection) and checks what sharing a process must not change: every service has its own NATS
connection and queue group and answers as its own replica, requests work end to end, metrics are not
duplicated, a killed host is restarted by the supervisor with nothing lost, and a service that fails inside
a host takes the host down (to be restarted), not silently only itself.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.bus import call
from shared.runtime.embedded import EmbeddedNats, free_port
from shared.runtime.stack import SHARED
from shared.subjects import instance_health
from tests.conftest import TEST_ENCRYPTION_KEY, Api
from tests.helpers import until
from tests.stack import Infra, Stack, selected_components

pytestmark = [pytest.mark.timeout(240)]

SERVICES = [c for c in selected_components() if c != "gateway"]
ENV = {
    "MOLTGRID_REQUEST_TIMEOUT": "3",
    "MOLTGRID_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
    "MOLTGRID_SERVICES": ",".join(SERVICES),
    "MOLTGRID_LOG_FORMAT": "json",
    "MOLTGRID_RATE_LIMIT_PER_MINUTE": "0",
}


class Shared:
    def __init__(self, stack: Stack, monitor: int) -> None:
        self.stack, self.monitor = stack, monitor


@pytest.fixture(scope="module")
def monitored_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedNats, int]]:
    monitor = free_port()
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"), free_port(), ["-m", str(monitor)]).start()
    yield server, monitor
    server.stop()


@pytest.fixture(scope="module")
async def shared(
    infra: Infra, monitored_nats: tuple[EmbeddedNats, int], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shared]:
    server, monitor = monitored_nats
    here = Infra(server.url, infra.admin_dsn)
    stack = Stack(here, await here.create_database(), tmp_path_factory.mktemp("logs"), env=ENV)
    stack.start({"memory": 2}, layout=SHARED)
    try:
        await stack.wait_ready(timeout=120)
        yield Shared(stack, monitor)
    finally:
        stack.stop()


async def connections(monitor: int) -> list[dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{monitor}/connz?subs=detail&limit=1000") as r:
            return (await r.json())["connections"]


async def test_one_process_per_replica_index_hosting_every_service(shared: Shared):
    stack = shared.stack
    assert set(stack.sup.children) == {"gateway-0", "services-0", "services-1"}
    assert stack.hosted == {"services-0": SERVICES, "services-1": ["memory"]}
    assert stack.replicas_of("memory") == ["services-0", "services-1"]
    assert stack.replicas_of("queue") == ["services-0"]


async def test_every_service_keeps_its_own_connection_and_queue_group(shared: Shared):
    conns = await connections(shared.monitor)
    named = Counter(c.get("name") for c in conns)
    for service in SERVICES:
        assert named[service] == (2 if service == "memory" else 1), (service, named)
        for conn in (c for c in conns if c.get("name") == service):
            groups = {s.get("qgroup") for s in conn.get("subscriptions_list_detail", []) if s.get("qgroup")}
            assert groups == {service}, (service, groups)  # its own queue group, no other service's


async def test_each_hosted_service_answers_as_its_own_replica(shared: Shared):
    nc = await nats.connect(shared.stack.infra.nats_servers)
    try:
        for service, index in [(s, 0) for s in SERVICES] + [("memory", 1)]:
            reply = await call(nc, instance_health(service, f"{service}-{index}"), {}, timeout=3)
            assert reply.ok and reply.data["service"] == service, reply
            assert reply.data["instance"] == f"{service}-{index}"
    finally:
        await nc.close()


async def test_requests_work_end_to_end(shared: Shared, http: aiohttp.ClientSession):
    api = Api(http, shared.stack.base_url)
    alice, bob = [await _register(api, name) for name in ("alice", "bob")]
    assert (await alice.post("/v1/memory", {"key": "k", "value": "v"}))[0] == 200
    assert (await alice.get("/v1/memory/k"))[1]["value"] == "v"
    status, job = await alice.post("/v1/queue/submit", {"payload": {"n": 1}, "queue_name": "layout"})
    assert status == 200, job
    status, claimed = await alice.post("/v1/queue/claim", params={"queue_name": "layout"})
    assert status == 200 and claimed["job_id"] == job["job_id"], claimed
    assert (await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "payload": "hi"}))[0] == 200
    status, inbox = await bob.get("/v1/relay/inbox")
    assert status == 200 and [m["payload"] for m in inbox["messages"]] == ["hi"], inbox


async def test_metrics_are_answered_once_per_process(shared: Shared, http: aiohttp.ClientSession):
    await until("a counted operation", lambda: _metrics(http, shared.stack.base_url))
    text = await _metrics(http, shared.stack.base_url)
    samples = [
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]
    duplicated = [key for key, n in Counter(samples).items() if n > 1]
    assert not duplicated, duplicated[:5]
    instances = {
        dict(labels).get("service"): dict(labels)["instance"]
        for name, labels in samples
        if name == "moltgrid_operations_total"
    }
    assert instances.get("queue") == "services-0", instances


async def test_a_killed_host_is_restarted_by_the_supervisor(shared: Shared, http: aiohttp.ClientSession):
    stack = shared.stack
    alice = await _register(Api(http, stack.base_url), "survivor")
    assert (await alice.post("/v1/memory", {"key": "kept", "value": "yes"}))[0] == 200
    old = stack.sup.children["services-0"].proc.pid
    stopping = threading.Event()
    watcher = threading.Thread(target=stack.sup.watch, args=(stopping.is_set,), daemon=True)
    watcher.start()
    try:
        stack.sup.children["services-0"].proc.send_signal(signal.SIGKILL)
        await until("a new services-0", lambda: _restarted(stack, old), timeout=30)
        await stack.wait_ready(timeout=90)
        status, body = await alice.get("/v1/memory/kept")
        assert status == 200 and body["value"] == "yes", body
        status, _ = await alice.post("/v1/queue/submit", {"payload": 1, "queue_name": "after-restart"})
        assert status == 200
    finally:
        stopping.set()
        await asyncio.to_thread(watcher.join)


async def test_a_failing_service_takes_its_host_down_to_be_restarted(infra: Infra, tmp_path: Path):
    """sla's migrations fail (a table in its way): the host stops memory gracefully and exits 1, so the
    supervisor restarts the whole process rather than leaving memory running without sla. Once the cause is
    gone, the restarted host serves both."""
    database = await infra.create_database()
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("CREATE SCHEMA sla; CREATE TABLE sla.schema_migrations (unexpected int)")
    finally:
        await conn.close()
    server = EmbeddedNats(tmp_path / "nats", free_port()).start()  # its own: no other stack's queue groups
    here = Infra(server.url, infra.admin_dsn, [server])
    stack = Stack(here, database, tmp_path / "logs", env=ENV)
    stack.start(layout=SHARED, only={"memory", "sla"})
    host = stack.sup.children["services-0"]
    try:
        code = await asyncio.to_thread(host.proc.wait, 60)
        log = host.log.read_text()
        assert code == 1, log[-2000:]
        assert '"hosted_service_failed"' in log and '"hosted": "sla"' in log, log[-2000:]
        assert '"service_stopped"' in log  # memory was stopped gracefully, not abandoned
        conn = await asyncpg.connect(database)
        try:
            await conn.execute("DROP SCHEMA sla CASCADE")
        finally:
            await conn.close()
        stack.start_component("memory")  # what the supervisor does: the same host, same services
        nc = await nats.connect(here.nats_servers)
        try:
            for service in ("memory", "sla"):

                async def answers(service: str = service) -> bool:
                    return (await call(nc, instance_health(service, f"{service}-0"), {}, timeout=1)).ok

                await until(f"{service} after the restart", answers, timeout=60)
        finally:
            await nc.close()
    finally:
        stack.stop()
        here.stop()


async def _register(api: Api, name: str) -> Api:
    status, body = await api.post("/v1/register", {"name": name})
    assert status == 200, body
    return Api(api.http, api.base, body["api_key"], body["agent_id"])


async def _metrics(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(f"{base}/metrics") as r:
        text = await r.text()
    return text if 'service="queue"' in text else ""


async def _restarted(stack: Stack, old: int) -> bool:
    child = stack.sup.children["services-0"]
    return child.proc.pid != old and child.alive()

"""The service runtime wires what a declaration asks for: operations from its groups, an admin-only agent purge
that also follows the durable purge command, the registration follower, loops and stop hooks."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS

from shared import subjects
from shared.bus import Ctx, call
from shared.config import Settings
from shared.purge import request_agent_purge
from shared.runtime.embedded import EmbeddedNats
from shared.service import Runtime, load_spec, run_service
from shared.spec import Every, Loop, Parts, Service
from shared.subjects import svc
from tests.unit.test_bus import EchoOps, service_name


class Recorder:
    def __init__(self) -> None:
        self.ticks, self.purged, self.registered, self.stopped = 0, [], [], False
        self.loop_ran = asyncio.Event()

    async def tick(self) -> None:
        self.ticks += 1

    async def consume(self) -> None:
        self.loop_ran.set()
        await asyncio.Event().wait()

    async def purge(self, agent_id: str) -> int:
        self.purged.append(agent_id)
        return 3

    async def registered_agent(self, agent_id: str) -> None:
        self.registered.append(agent_id)

    async def stop(self) -> None:
        self.stopped = True


async def until(predicate: Any, seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.fixture
def nats_env(nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOLTGRID_NATS_URL", nats_server.url)
    monkeypatch.setenv("MOLTGRID_LOG_LEVEL", "warning")


async def test_the_runtime_wires_a_declared_service(nats_env: None, nc: NATS) -> None:
    rec = Recorder()
    name = service_name()

    async def build(rt: Runtime[Settings]) -> Parts:
        assert rt.db is None  # no migrations: no pool
        return Parts(
            groups=[EchoOps()],
            loops=[Every("tick", 0.05, rec.tick), Loop("consumer", rec.consume)],
            purge=rec.purge,
            on_registered=rec.registered_agent,
            on_stop=[rec.stop],
        )

    stop = asyncio.Event()
    running = asyncio.create_task(
        run_service(Service(name, build, Settings), stop=stop, instance=f"{name}-0")
    )
    try:
        await until(lambda: rec.ticks >= 2 and rec.loop_ran.is_set())
        ok = await call(nc, svc(name, "echo"), {"text": "hi"}, timeout=2)
        assert ok.unwrap()["text"] == "hi"
        # the purge operation is the runtime's, admin only
        assert (await call(nc, svc(name, "purge_agent"), {"agent_id": "x"}, timeout=2)).code == "forbidden"
        purged = await call(nc, svc(name, "purge_agent"), {"agent_id": "x"}, timeout=2, ctx=Ctx(admin=True))
        assert purged.unwrap() == {"agent_id": "x", "deleted": 3}
        # the durable purge command and registrations reach the service's followers
        await request_agent_purge(nc.jetstream(), f"{name}-gone")
        await nc.jetstream().publish(subjects.AGENT_REGISTERED, orjson.dumps({"agent_id": f"{name}-new"}))
        await until(lambda: f"{name}-gone" in rec.purged and f"{name}-new" in rec.registered)
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
    assert rec.stopped
    assert (await call(nc, svc(name, "echo"), {"text": "hi"}, timeout=1)).code == "unavailable"


def test_every_service_package_declares_its_spec() -> None:
    for name in subjects.SERVICES:
        spec = load_spec(name)
        assert spec.name == name
        if spec.encrypted:
            assert spec.migrations is not None, f"{name} declares encrypted tables but stores nothing"
            assert all(table.startswith(f"{spec.schema_name}.") for table in spec.encrypted)

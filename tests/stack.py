"""A real MoltGrid stack for the tests: NATS + Postgres (embedded or external) and every built component.

External servers come in through MOLTGRID_TEST_NATS_URL / MOLTGRID_TEST_DATABASE_URL (a database the
tests may create databases in); otherwise embedded servers are started in a temporary directory.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from shared.runtime.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shared.runtime.supervisor import Supervisor, components
from shared.subjects import SERVICES


def selected_components() -> list[str]:
    """Every built component, or only those named in MOLTGRID_TEST_ONLY (for focused local runs)."""
    only = {c.strip() for c in os.environ.get("MOLTGRID_TEST_ONLY", "").split(",") if c.strip()}
    return [c for c in components() if not only or c in only or c == "gateway"]


@dataclass
class Infra:
    nats_url: str
    admin_dsn: str  # a database on the server where test databases are created
    servers: list[Any] = field(default_factory=list)

    @classmethod
    def start(cls, data_dir: Path) -> Infra:
        servers: list[Any] = []
        nats_url = os.environ.get("MOLTGRID_TEST_NATS_URL")
        if not nats_url:
            servers.append(EmbeddedNats(data_dir, free_port()).start())
            nats_url = servers[-1].url
        admin_dsn = os.environ.get("MOLTGRID_TEST_DATABASE_URL")
        if not admin_dsn:
            pg = EmbeddedPostgres(data_dir, free_port(), fast_unsafe=True).start()
            servers.append(pg)
            admin_dsn = pg.dsn("postgres")
        return cls(nats_url, admin_dsn, servers)

    async def create_database(self) -> str:
        name = f"mgtest_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        base, _, _ = self.admin_dsn.rpartition("/")
        return f"{base}/{name}"

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


@dataclass
class Stack:
    """The system under test: gateways on their own ports, services in queue groups."""

    infra: Infra
    database_url: str
    log_dir: Path
    env: dict[str, str]
    gateway_ports: list[int] = field(default_factory=list)
    sup: Supervisor = field(init=False)

    def __post_init__(self) -> None:
        self.sup = Supervisor({"MOLTGRID_NATS_URL": self.infra.nats_url,
                               "MOLTGRID_DATABASE_URL": self.database_url, "MOLTGRID_LOG_FORMAT": "json",
                               **self.env}, log_dir=self.log_dir)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_ports[0]}"

    def url(self, gateway: int = 0) -> str:
        return f"http://127.0.0.1:{self.gateway_ports[gateway]}"

    def start(self, replicas: dict[str, int], gateways: int = 2) -> None:
        for component in selected_components():
            if component == "gateway":
                for i in range(gateways):
                    port = free_port()
                    self.gateway_ports.append(port)
                    self.sup.spawn("gateway", i, {"MOLTGRID_PORT": str(port)})
            else:
                for i in range(replicas.get(component, 1)):
                    self.sup.spawn(component, i)

    def replicas_of(self, component: str) -> list[str]:
        return [name for name in self.sup.children if name.rpartition("-")[0] == component]

    def signal(self, component: str, sig: int) -> None:
        for name in self.replicas_of(component):
            child = self.sup.children[name]
            if child.alive():
                child.proc.send_signal(sig)

    def stop_component(self, component: str) -> None:
        for name in self.replicas_of(component):
            self.sup.children[name].stop()

    def start_component(self, component: str) -> None:
        for name in self.replicas_of(component):
            if not self.sup.children[name].alive():
                self.sup.spawn(component, int(name.rpartition("-")[2]))

    async def wait_ready(self, timeout: float = 60) -> None:
        """Until every gateway answers and reports every built service up."""
        want = {c for c in selected_components() if c in SERVICES}
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            for port in self.gateway_ports:
                while True:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/v1/health") as r:
                            body = await r.json()
                            up = {n for n, s in body["services"].items() if s["status"] == "up"}
                            if want <= up:
                                break
                    except (aiohttp.ClientError, KeyError, ValueError):
                        pass
                    if time.monotonic() > deadline:
                        self.dump_logs()
                        raise TimeoutError(f"stack not ready on port {port}")
                    await asyncio.sleep(0.2)

    def dump_logs(self) -> None:
        for log in sorted(self.log_dir.glob("*.log")):
            print(f"===== {log.name}\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.sup.stop_all()


def kill_signal() -> int:
    return signal.SIGKILL

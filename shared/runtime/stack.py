"""A whole MoltGrid stack on one machine: NATS + Postgres (embedded or external), the gateways, and the
services either one process each or sharing processes (see Stack.start). Used by `moltgrid up`, the test
suite and the benchmark."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.runtime.credentials import (
    HOST_USER,
    IDENTITY_KEY_ENV,
    OPERATOR,
    Credentials,
    provision_sql,
)
from shared.runtime.embedded import EmbeddedNats, EmbeddedPostgres, free_port, start_nats_cluster
from shared.runtime.supervisor import HOST, SERVICES_ENV, Supervisor, components
from shared.subjects import SERVICES

SEPARATE, SHARED = "separate", "shared"
LAYOUTS = (SEPARATE, SHARED)
# The shared layout is the small-machine one. Each pool connection is a PostgreSQL backend of 2-5 MB: pools
# of at most 6 (not 10), and a connection idle for 10 s (not 60) is closed. Much smaller pools cost CPU under
# load (requests queue for a connection, fewer commits share a WAL flush). Set in the environment to override.
SMALL_MACHINE_ENV = {"MOLTGRID_DB_POOL_SIZE": "6", "MOLTGRID_DB_IDLE_SECONDS": "10"}


def selected_components() -> list[str]:
    """Every built component, or only those named in MOLTGRID_TEST_ONLY (for focused local runs)."""
    only = {c.strip() for c in os.environ.get("MOLTGRID_TEST_ONLY", "").split(",") if c.strip()}
    return [c for c in components() if not only or c in only or c == "gateway"]


def database_env(service: str) -> str:
    """The variable naming one hosted service's own database URL (a shared host runs several)."""
    return f"MOLTGRID_{service.upper()}_DATABASE_URL"


@dataclass
class Infra:
    """The two servers everything depends on; embedded ones are started (and stopped) by us, with
    authentication on: `credentials` then holds every component's secrets, `nats_url` is an operator's
    connection (any subject) and `admin_dsn` the superuser's."""

    nats_url: str  # one URL, or a cluster's URLs comma-separated (as MOLTGRID_NATS_URL takes them)
    admin_dsn: str  # a database on the server; create_database() makes more next to it
    servers: list[Any] = field(default_factory=list)
    nats_nodes: list[EmbeddedNats] = field(
        default_factory=list
    )  # the embedded NATS servers (1, or a cluster)
    credentials: Credentials | None = None
    nats_auth: bool = False  # the embedded NATS requires the credentials' users
    postgres_auth: bool = False  # the embedded PostgreSQL has the credentials' roles

    @classmethod
    def start(
        cls,
        data_dir: Path,
        *,
        nats_url: str | None = None,
        database_url: str | None = None,
        nats_port: int | None = None,
        pg_port: int | None = None,
        fast_unsafe: bool = False,
        nats_cluster: int = 1,
    ) -> Infra:
        """nats_cluster > 1: an embedded JetStream cluster of that many nodes (see wait_jetstream).
        Embedded servers get the data directory's credentials (generated on first use)."""
        servers: list[Any] = []
        nodes: list[EmbeddedNats] = []
        creds = Credentials.load_or_create(data_dir) if not (nats_url and database_url) else None
        nats_auth, postgres_auth = not nats_url, not database_url
        config = creds.nats_config(data_dir / "nats-auth.conf") if creds and nats_auth else None
        if not nats_url and nats_cluster > 1:
            nodes = start_nats_cluster(data_dir, nats_cluster, config)
            servers += nodes
            nats_url = ",".join(node.url for node in nodes)
        elif not nats_url:
            servers.append(EmbeddedNats(data_dir, nats_port or free_port(), config=config).start())
            nodes = servers[-1:]
            nats_url = servers[-1].url
        if creds and nats_auth:
            nats_url = creds.nats_url(nats_url, OPERATOR)
        if not database_url:
            password = creds.postgres["postgres"] if creds else None
            pg = EmbeddedPostgres(
                data_dir, pg_port or free_port(), fast_unsafe=fast_unsafe, password=password
            ).start()
            servers.append(pg)
            database_url = pg.dsn("postgres")
        return cls(nats_url, database_url, servers, nodes, creds, nats_auth, postgres_auth)

    @property
    def postgres(self) -> EmbeddedPostgres | None:
        return next((s for s in self.servers if isinstance(s, EmbeddedPostgres)), None)

    def provision(self, database_url: str) -> None:
        """Each component's role, owning its schema in that database (idempotent; the superuser runs it)."""
        pg = self.postgres
        if self.credentials is None or not self.postgres_auth or pg is None:
            return
        database = database_url.rpartition("/")[2].partition("?")[0]
        pg.run_sql(database, provision_sql(self.credentials, database))

    def nats_url_as(self, user: str) -> str:
        """The embedded NATS with one user's credentials (e.g. `reader`, the outside subscribers')."""
        assert self.credentials is not None and self.nats_auth, "the embedded NATS runs without auth"
        return self.credentials.nats_url(",".join(node.url for node in self.nats_nodes), user)

    def database_url_as(self, database_url: str, component: str) -> str:
        """That database as one component's role."""
        assert self.credentials is not None and self.postgres_auth, (
            "the embedded PostgreSQL runs without auth"
        )
        return self.credentials.database_url(database_url, component)

    def component_env(self, component: str, extra_env: dict[str, str], database_url: str) -> dict[str, str]:
        """The connection settings of one process: its own NATS user and database role(s), in place of the
        operator's (a shared host: the services user, and each hosted service's role)."""
        creds, env = self.credentials, {}
        if creds is None:
            return {}
        hosted = [s for s in extra_env.get(SERVICES_ENV, "").split(",") if s] if component == HOST else []
        if self.nats_auth:
            base = ",".join(node.url for node in self.nats_nodes) or self.nats_url
            env["MOLTGRID_NATS_URL"] = creds.nats_url(base, HOST_USER if component == HOST else component)
        if self.postgres_auth:
            for service in hosted:
                env[database_env(service)] = creds.database_url(database_url, service)
            own = hosted[0] if hosted else component
            if own in creds.postgres:
                env["MOLTGRID_DATABASE_URL"] = creds.database_url(database_url, own)
        return env

    @property
    def nats_servers(self) -> list[str]:
        from shared.config import server_list  # (not at import: `moltgrid up` never loads pydantic)

        return server_list(self.nats_url)

    async def wait_jetstream(self, timeout: float = 30) -> None:
        """Until JetStream answers API requests (a fresh cluster first elects its meta leader)."""
        import nats

        deadline = time.monotonic() + timeout
        nc = await nats.connect(self.nats_servers)
        try:
            while True:
                try:
                    await nc.jetstream().account_info()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    async def create_database(self, name: str | None = None) -> str:
        """Create (if missing) a database beside admin_dsn and return its DSN."""
        import asyncpg

        name = name or f"mgtest_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        base, _, _ = self.admin_dsn.rpartition("/")
        return f"{base}/{name}"

    def create_database_sync(self, name: str | None = None) -> str:
        return asyncio.run(self.create_database(name))

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


@dataclass
class Stack:
    """The components: gateways (own ports unless shared) and services in queue groups."""

    infra: Infra
    database_url: str
    log_dir: Path | None
    env: dict[str, str] = field(default_factory=dict)
    gateway_ports: list[int] = field(default_factory=list)
    hosted: dict[str, list[str]] = field(default_factory=dict)  # shared host process → the services it runs
    sup: Supervisor = field(init=False)

    def __post_init__(self) -> None:
        """The supervisor's environment carries the operator's connections (what a process started by hand
        from it uses); each process it spawns gets its own credentials in their place."""
        creds = self.infra.credentials
        self.infra.provision(self.database_url)
        self.sup = Supervisor(
            {
                "MOLTGRID_NATS_URL": self.infra.nats_url,
                "MOLTGRID_DATABASE_URL": self.database_url,
                **({IDENTITY_KEY_ENV: creds.identity_key} if creds else {}),
                **self.env,
            },
            log_dir=self.log_dir,
            secrets=lambda component, extra: self.infra.component_env(component, extra, self.database_url),
        )

    @property
    def base_url(self) -> str:
        return self.url(0)

    def url(self, gateway: int = 0) -> str:
        return f"http://127.0.0.1:{self.gateway_ports[gateway]}"

    def start(
        self,
        replicas: dict[str, int] | None = None,
        gateways: int = 1,
        ports: list[int] | None = None,
        only: set[str] | None = None,
        layout: str = SEPARATE,
    ) -> None:
        """Spawn everything (or `only` these services); gateway i listens on ports[i] (default: free ports).

        layout SEPARATE: one process per service replica (memory-0, memory-1, …), as compose and k8s run them.
        layout SHARED: process services-i hosts replica i of every service that has more than i replicas
        (shared.runtime.host), so the default single-replica stack is two Python processes, not ten."""
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
        replicas = replicas or {}
        services = [c for c in selected_components() if c != "gateway" and (only is None or c in only)]
        for i in range(gateways):
            port = ports[i] if ports else free_port()
            self.gateway_ports.append(port)
            self.sup.spawn("gateway", i, {"MOLTGRID_PORT": str(port)})
        if layout == SHARED:
            for name, value in SMALL_MACHINE_ENV.items():
                if name not in os.environ:
                    self.sup.env.setdefault(name, value)
            for i in range(max((replicas.get(c, 1) for c in services), default=0)):
                hosted = [c for c in services if replicas.get(c, 1) > i]
                if hosted:
                    self.sup.spawn(HOST, i, {SERVICES_ENV: ",".join(hosted)})
                    self.hosted[f"{HOST}-{i}"] = hosted
            return
        for component in services:
            for i in range(replicas.get(component, 1)):
                self.sup.spawn(component, i)

    def replicas_of(self, component: str) -> list[str]:
        """The processes running `component` (its own, or shared hosts that run it)."""
        return [
            name
            for name in self.sup.children
            if name.rpartition("-")[0] == component or component in self.hosted.get(name, ())
        ]

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
                process, _, index = name.rpartition("-")
                self.sup.spawn(process, int(index))

    async def wait_ready(self, timeout: float = 60) -> None:
        """Until every started service answers over NATS and every gateway answers HTTP.

        Services are pinged directly (the gateway caches /v1/health for a moment, which would hide a
        replica that is still starting)."""
        import aiohttp
        import nats

        from shared.bus import call
        from shared.subjects import svc

        deadline = time.monotonic() + timeout
        want = [c for c in SERVICES if self.replicas_of(c)]
        nc = await nats.connect(self.infra.nats_servers)
        try:
            for service in want:
                while not (await call(nc, svc(service, "health"), {}, timeout=1.0)).ok:
                    self._check_deadline(deadline, service)
                    await asyncio.sleep(0.1)
        finally:
            await nc.close()
        async with aiohttp.ClientSession() as http:
            for port in sorted(set(self.gateway_ports)):
                while True:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/v1/health") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    self._check_deadline(deadline, f"gateway on port {port}")
                    await asyncio.sleep(0.1)

    def wait_ready_blocking(self, timeout: float = 60) -> None:
        asyncio.run(self.wait_ready(timeout))

    def _check_deadline(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            self.dump_logs()
            raise TimeoutError(f"{what} not ready")

    def dump_logs(self) -> None:
        if self.log_dir is None:
            return
        for log in sorted(self.log_dir.glob("*.log")):
            print(f"===== {log.name}\n{log.read_text()[-3000:]}")

    def process_groups(self) -> dict[str, list[int]]:
        """Live processes by component (replicas together), plus the NATS and PostgreSQL servers we started."""
        groups: dict[str, list[int]] = {}
        for name, child in self.sup.children.items():
            if child.alive():
                groups.setdefault(name.rpartition("-")[0] or name, []).append(child.proc.pid)
        for server in self.infra.servers:
            if server.child and server.child.alive():
                label = "postgres" if isinstance(server, EmbeddedPostgres) else "nats"
                groups.setdefault(label, []).append(server.child.proc.pid)
        return groups

    def stop(self) -> None:
        self.sup.stop_all()

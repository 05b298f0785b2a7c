"""Session fixtures: one real stack (2 gateways, 2 memory replicas) driven over HTTP."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.bus import IDENTITY_KEY_ENV
from shared.passwords import hash_password
from tests.helpers import Receiver, seed_view
from tests.stack import Infra, Stack, selected_components

# Settings for the tests come from the fixtures, never from the developer's environment.
for _name in [n for n in os.environ if n.startswith("MOLTGRID_") and not n.startswith("MOLTGRID_TEST_")]:
    del os.environ[_name]
os.environ.pop("ENCRYPTION_KEY", None)

TEST_ENCRYPTION_KEY = "q3KqO1k7P0Yw4mHqP5yq3Y7mGq0hH2i0p7N9dSx1s1E="
ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    servers = Infra.start(
        tmp_path_factory.mktemp("infra"),
        nats_url=os.environ.get("MOLTGRID_TEST_NATS_URL"),
        database_url=os.environ.get("MOLTGRID_TEST_DATABASE_URL"),
        fast_unsafe=True,
    )
    if servers.credentials:  # this process signs identity headers as the gateway does (shared.bus.call)
        os.environ[IDENTITY_KEY_ENV] = servers.credentials.identity_key
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
async def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = await infra.create_database()
    services = ",".join(c for c in selected_components() if c != "gateway")
    s = Stack(
        infra,
        db,
        tmp_path_factory.mktemp("logs"),
        env={
            "MOLTGRID_REQUEST_TIMEOUT": "2",
            "MOLTGRID_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
            "MOLTGRID_SERVICES": services,
            "MOLTGRID_LOG_FORMAT": "json",
            "MOLTGRID_MEMORY_SWEEP_SECONDS": "1",
            "MOLTGRID_ADMIN_PASSWORD_HASH": hash_password(ADMIN_PASSWORD),
            "MOLTGRID_SLA_CHECK_SECONDS": "1",
            "MOLTGRID_ALLOW_PRIVATE_WEBHOOKS": "true",
            "MOLTGRID_WEBHOOK_RETRY_BASE_SECONDS": "0.3",
            "MOLTGRID_A2A_PUSH_RETRY_BASE_SECONDS": "0.3",
            "MOLTGRID_A2A_CARD_REFRESH_SECONDS": "1",
        },
    )
    s.start({"memory": 2, "a2a": 2}, gateways=2)
    try:
        await s.wait_ready()
        yield s
    finally:
        s.stop()


class Api:
    """A thin HTTP client for one agent (or anonymous) against one gateway."""

    def __init__(
        self, http: aiohttp.ClientSession, base: str, key: str | None = None, agent_id: str | None = None
    ):
        self.http, self.base, self.key, self.agent_id = http, base, key, agent_id

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
        envelope: bool = False,
    ) -> tuple[int, Any, Any]:
        """Error bodies come back as the seed's {"detail": …} once their 1.0 fields are checked
        (tests.helpers.seed_view); `envelope=True` returns them whole."""
        h = {"X-API-Key": self.key} if self.key else {}
        h.update(headers or {})
        async with self.http.request(
            method, self.base + path, json=json, params=params, headers=h, data=data
        ) as r:
            raw = await r.read()
            try:
                body = await r.json(content_type=None) if raw else None
            except ValueError:
                body = raw
            return r.status, body if envelope else seed_view(r.status, body, r.headers), r.headers

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        status, body, _ = await self.request("GET", path, **kw)
        return status, body

    async def post(self, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        status, body, _ = await self.request("POST", path, json=json, **kw)
        return status, body

    async def put(self, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        status, body, _ = await self.request("PUT", path, json=json, **kw)
        return status, body

    async def patch(self, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        status, body, _ = await self.request("PATCH", path, json=json, **kw)
        return status, body

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        status, body, _ = await self.request("DELETE", path, **kw)
        return status, body

    def on(self, gateway_base: str) -> Api:
        return Api(self.http, gateway_base, self.key, self.agent_id)


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # Idle connections are dropped before the gateway's own keep-alive timeout (MOLTGRID_HEADER_TIMEOUT_S, 10 s)
    # closes them, so a request never races the server's close of a connection it is about to reuse.
    connector = aiohttp.TCPConnector(keepalive_timeout=5)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture(scope="session")
def anon(http: aiohttp.ClientSession, stack: Stack) -> Api:
    return Api(http, stack.base_url)


@pytest.fixture
def register(http: aiohttp.ClientSession, stack: Stack):
    """Factory: a fresh registered agent per call (tests never share agents)."""

    async def make(name: str | None = "test-agent") -> Api:
        status, body = await Api(http, stack.base_url).post("/v1/register", {"name": name} if name else {})
        assert status == 200, body
        return Api(http, stack.base_url, body["api_key"], body["agent_id"])

    return make


@pytest.fixture
async def alice(register) -> Api:
    return await register("alice")


@pytest.fixture
async def bob(register) -> Api:
    return await register("bob")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A local webhook receiver (tests/helpers.py), started for the test and stopped after it."""
    async with Receiver() as r:
        yield r


@pytest.fixture(scope="session")
async def db(stack: Stack) -> AsyncIterator[Any]:
    import asyncpg

    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=3)
    yield pool
    await pool.close()


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def admin(stack):
    """An aiohttp session signed in to the admin panel (its cookie checked)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.post(stack.url(0) + "/admin/api/login", json={"password": ADMIN_PASSWORD}) as r:
            assert r.status == 200
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "admin_token=" in cookie
        yield session

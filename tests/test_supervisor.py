"""`moltgrid up` restarts everything it started: a SIGKILLed embedded nats-server and PostgreSQL come back
(with a back-off), are reaped (no <defunct> child), and the API serves again with nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from shared.runtime.embedded import free_port
from tests.helpers import until

ROOT = Path(__file__).resolve().parents[1]


def _server(up: psutil.Process, name: str) -> psutil.Process | None:
    for child in up.children():
        try:
            if child.name() == name and child.status() != psutil.STATUS_ZOMBIE:
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def _zombies(up: psutil.Process) -> list[int]:
    out = []
    for child in up.children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                out.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """Outside /tmp/pytest-of-root, which each pytest session run as root resets to 0700 (PostgreSQL runs as
    another user when we are root, and must reach its data directory whenever `up` restarts it)."""
    path = Path(tempfile.mkdtemp(prefix="moltgrid-up-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def _operational(request) -> bool:
    status, body = await request("GET", "/v1/health")
    return status == 200 and body.get("status") == "operational"


@pytest.mark.timeout(400)
async def test_up_restarts_a_killed_nats_and_postgres(tmp_path: Path):
    port, nats_port, pg_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOLTGRID_")}
    env["MOLTGRID_HEALTH_CACHE_S"] = "0"  # every /v1/health probes afresh: the outages last a second or two
    log = open(tmp_path / "up.log", "wb")  # noqa: ASYNC230, SIM115 - the child owns it
    proc = subprocess.Popen(  # noqa: ASYNC220 - one long-lived child
        [
            sys.executable,
            "-m",
            "shared.runtime.cli",
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(port),
            "--nats-port",
            str(nats_port),
            "--pg-port",
            str(pg_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    up = psutil.Process(proc.pid)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

            async def request(method: str, path: str, key: str | None = None, **kw) -> tuple[int, dict]:
                try:
                    headers = {"X-API-Key": key} if key else {}
                    async with http.request(method, base + path, headers=headers, **kw) as r:
                        return r.status, await r.json(content_type=None)
                except (TimeoutError, aiohttp.ClientError, ValueError):
                    return 0, {}

            async def registered() -> str | None:
                status, body = await request("POST", "/v1/register", json={"name": "survivor"})
                return body["api_key"] if status == 200 else None

            key = await until("up serving", registered, timeout=180, every=0.5)

            async def write(k: str) -> bool:
                status, _ = await request("POST", "/v1/memory", key, json={"key": k, "value": f"v-{k}"})
                return status == 200

            async def read(k: str) -> bool:
                status, body = await request("GET", f"/v1/memory/{k}", key)
                return status == 200 and body.get("value") == f"v-{k}"

            assert await write("before")
            seen: list[str] = []

            async def watch_health() -> None:
                while True:
                    status, body = await request("GET", "/v1/health", timeout=aiohttp.ClientTimeout(total=3))
                    seen.append(body.get("status", "unreachable") if status == 200 else f"http {status}")
                    await asyncio.sleep(0.1)

            for name, written in (("nats-server", "after-nats"), ("postgres", "after-postgres")):
                victim = _server(up, name)
                assert victim is not None, f"no {name} under up"
                seen.clear()
                watcher = asyncio.create_task(watch_health())
                victim.send_signal(signal.SIGKILL)

                async def replaced(n: str = name, old: int = victim.pid) -> bool:
                    server = _server(up, n)
                    return server is not None and server.pid != old

                await until(f"a new {name}", replaced, timeout=60, every=0.5)
                await until(
                    f"writes after {name} came back", lambda w=written: write(w), timeout=90, every=0.5
                )
                assert await read("before")
                assert _zombies(up) == [], f"defunct children after killing {name}"
                await until("operational again", lambda: _operational(request), timeout=60, every=0.5)
                watcher.cancel()
                # (right after NATS is back, `down` may show for a moment until the services have reconnected)
                assert "degraded" in seen, (name, seen)
            for k in ("before", "after-nats", "after-postgres"):
                assert await read(k), k
            status, health = await request("GET", "/v1/health")
            assert status == 200 and health["status"] == "operational", health
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(proc.wait, 60)
        except subprocess.TimeoutExpired:
            proc.kill()
        text = (tmp_path / "up.log").read_text(errors="replace")
        creds = tmp_path / "data" / "credentials.json"
        if creds.exists():
            import json

            secrets = json.loads(creds.read_text())
            for value in [*secrets["nats"].values(), *secrets["postgres"].values(), secrets["identity_key"]]:
                assert value not in text, "a secret in up's output"
        print(text[-3000:])

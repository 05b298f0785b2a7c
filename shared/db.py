"""asyncpg pool helper and per-service schema migrations (numbered SQL files, applied under a lock)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import orjson
import structlog

from shared.config import Settings

# Errors that mean "the database is unreachable right now" (restart, failover, network): the request
# may be retried, so they become 503, never 500. InternalClientError ("cannot switch to state N; another
# operation is in progress") is how asyncpg reports a pooled connection the server terminated under it
# during a shutdown (MagicStack/asyncpg#1069).
DB_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InternalClientError,
    OSError,
    ConnectionError,
)

SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+$")
log = structlog.get_logger("db")


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("jsonb", "json"):
        await conn.set_type_codec(
            typ, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset-on-release query (RESET ALL, UNLISTEN *, …): it costs a Postgres round trip
    on every pool use, and our code keeps no session state (transaction-scoped locks and settings only)."""


@asynccontextmanager
async def create_pool(
    settings: Settings, *, min_size: int = 1, max_size: int | None = None
) -> AsyncIterator[asyncpg.Pool]:
    """A pool with json/jsonb codecs; closed when the context exits."""
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=min_size,
        max_size=max_size or settings.db_pool_size,
        init=_init_connection,
        reset=_keep_session,
        max_inactive_connection_lifetime=settings.db_idle_seconds,
        command_timeout=30,
        timeout=5,
    )
    try:
        yield pool
    finally:
        await pool.close()


async def migrate(pool: asyncpg.Pool, schema: str, folder: Path) -> list[str]:
    """Apply the folder's NNNN_name.sql files not yet recorded in <schema>.schema_migrations.

    Runs in one transaction under an advisory lock, so replicas starting together serialise and the
    second finds nothing to do; Postgres DDL is transactional, so a failed migration leaves no trace.
    """
    if not SCHEMA_RE.fullmatch(schema):
        raise ValueError(f"bad schema name {schema!r}")
    files = sorted(folder.glob("*.sql"))  # noqa: ASYNC240 - a handful of migration files, read once at start
    for f in files:
        if not MIGRATION_RE.fullmatch(f.stem):
            raise ValueError(f"bad migration file name {f.name} (want NNNN_description.sql)")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"moltgrid.migrate.{schema}")
        # Only when missing: a service's role owns its schema but may not create schemas (credentials.py).
        if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
            await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch(f"SELECT version FROM {schema}.schema_migrations")}
        todo = [f for f in files if f.stem not in done]
        for f in todo:
            await conn.execute(f.read_text())
            await conn.execute(f"INSERT INTO {schema}.schema_migrations (version) VALUES ($1)", f.stem)
            log.info("migration_applied", schema=schema, version=f.stem)
    return [f.stem for f in todo]

"""Schema migrations: idempotent, safe when replicas start together, atomic when one fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from shared.config import Settings
from shared.db import create_pool, migrate
from shared.runtime.supervisor import ROOT, components


def _folder(component: str) -> Path:
    return ROOT / ("gateway" if component == "gateway" else f"services/{component}") / "migrations"


async def test_every_component_migrates_idempotently_and_concurrently(infra):
    dsn = await infra.create_database()
    settings = Settings(database_url=dsn)
    async with create_pool(settings) as a, create_pool(settings) as b:
        for component in components():
            folder = _folder(component)
            if not folder.exists():
                continue
            first, second = await asyncio.gather(migrate(a, component, folder), migrate(b, component, folder))
            expected = sorted(f.stem for f in folder.glob("*.sql"))
            # The advisory lock serialises the two: one applies everything, the other finds nothing to do.
            assert sorted(first + second) == expected
            assert await migrate(a, component, folder) == []
            recorded = await a.fetch(f"SELECT version FROM {component}.schema_migrations ORDER BY version")
            assert [r["version"] for r in recorded] == expected


async def test_failed_migration_leaves_no_trace(infra, tmp_path):
    dsn = await infra.create_database()
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE demo.good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE demo.half (id int); SELECT * FROM demo.missing;")
    async with create_pool(Settings(database_url=dsn)) as pool:
        with pytest.raises(asyncpg.UndefinedTableError):
            await migrate(pool, "demo", tmp_path)
        assert await pool.fetchval("SELECT to_regclass('demo.good')") is None
        (tmp_path / "0002_bad.sql").write_text("CREATE TABLE demo.half (id int);")
        assert await migrate(pool, "demo", tmp_path) == ["0001_good", "0002_bad"]


async def test_bad_names_are_refused(infra, tmp_path):
    dsn = await infra.create_database()
    (tmp_path / "first.sql").write_text("SELECT 1;")
    async with create_pool(Settings(database_url=dsn)) as pool:
        with pytest.raises(ValueError):
            await migrate(pool, "demo", tmp_path)
        with pytest.raises(ValueError):
            await migrate(pool, "demo; DROP SCHEMA public", tmp_path)


@pytest.mark.parametrize("schema", ["public", "extensions"])
async def test_memory_migrates_where_pgvector_already_exists(infra, schema):
    """An operator's database may have pgvector already (in public, or a schema of its own on the search
    path): 0002_vectors.sql's CREATE EXTENSION IF NOT EXISTS leaves it be, and the vector store works."""
    from services.memory.db import Db
    from services.memory.stores.vectors import VectorStore
    from shared.crypto import Cipher

    dsn = await infra.create_database()
    name = dsn.rpartition("/")[2]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"CREATE SCHEMA IF NOT EXISTS {schema}; CREATE EXTENSION vector WITH SCHEMA {schema};"
            f' ALTER DATABASE "{name}" SET search_path = "$user", public, {schema}'
        )
    finally:
        await conn.close()
    async with create_pool(Settings(database_url=dsn)) as pool:
        applied = await migrate(pool, "memory", _folder("memory"))
        assert (
            applied == sorted(f.stem for f in _folder("memory").glob("*.sql")) and "0002_vectors" in applied
        )
        assert (
            await pool.fetchval(
                "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'vector'"
            )
            == schema
        )
        store = VectorStore(Db(pool), Cipher(None))
        await store.upsert("agent_x", "ns", "near", "near", None, 0.5, [1.0] + [0.0] * 383)
        await store.upsert("agent_x", "ns", "far", "far", {"m": 1}, 0.5, [0.0] * 383 + [1.0])
        found = await store.search(
            "agent_x",
            "ns",
            [0.9, 0.1] + [0.0] * 382,
            limit=2,
            min_similarity=0.0,
            composite=False,
            metadata_filter=None,
        )
        assert [r["key"] for r in found] == ["near", "far"] and found[1]["similarity"] == 0.0

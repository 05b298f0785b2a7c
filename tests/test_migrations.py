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

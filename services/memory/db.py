"""The memory stores' one way to the database: every statement and transaction goes through `Db`, which maps
the database's integrity errors to the service's domain errors in one place (a unique violation is a
Conflict, a foreign-key violation a NotFound, a check violation a BadRequest), so no store or handler catches
asyncpg exceptions of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg

from shared.errors import BadRequest, Conflict, NotFound


@contextmanager
def domain_errors() -> Iterator[None]:
    """Raise the domain error a database integrity error stands for (anything else passes unchanged)."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("Already exists") from exc
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound("Not found") from exc
    except asyncpg.CheckViolationError as exc:
        raise BadRequest("Invalid value") from exc


def affected(status: str) -> int:
    """Rows a command touched, from its status tag ("DELETE 3" → 3)."""
    return int(status.split()[-1])


class Db:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def execute(self, sql: str, *args: Any) -> str:
        with domain_errors():
            status: str = await self._pool.execute(sql, *args)
            return status

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        with domain_errors():
            rows: list[asyncpg.Record] = await self._pool.fetch(sql, *args)
            return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        with domain_errors():
            row: asyncpg.Record | None = await self._pool.fetchrow(sql, *args)
            return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        with domain_errors():
            return await self._pool.fetchval(sql, *args)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """One pooled connection for several statements (no transaction)."""
        with domain_errors():
            async with self._pool.acquire() as conn:
                yield conn

    @asynccontextmanager
    async def transaction(self, **options: Any) -> AsyncIterator[asyncpg.Connection]:
        """One transaction (`options` as asyncpg's `Connection.transaction`: isolation, readonly)."""
        with domain_errors():
            async with self._pool.acquire() as conn, conn.transaction(**options):
                yield conn

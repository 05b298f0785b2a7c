"""Re-encrypt stored values with the newest key, one bounded batch per call (used by each service's
`reencrypt` operation and driven by `moltgrid rotate-keys`). Values already on the newest key are
skipped, so a run can stop anywhere and be started again."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.bus import Ctx, Op
from shared.crypto import Cipher
from shared.db import SCHEMA_RE
from shared.errors import BadRequest, NotFound
from shared.models import Request
from shared.spec import EncryptedTables


class ReencryptRequest(Request):
    table: str
    after: list[Any] | None = None  # the primary key of the last row of the previous batch
    batch: int = 500


async def reencrypt_batch(
    pool: asyncpg.Pool,
    cipher: Cipher,
    table: str,
    key_columns: tuple[str, ...],
    value_columns: tuple[str, ...],
    after: list[Any] | None,
    batch: int,
) -> dict[str, Any]:
    """Rotate one batch of `table` in primary-key order; returns the cursor for the next call."""
    for name in (table, *key_columns, *value_columns):
        if not all(SCHEMA_RE.fullmatch(part) for part in name.split(".")):
            raise BadRequest(f"bad identifier {name!r}")
    if not cipher.enabled:
        raise BadRequest("no encryption key is configured")
    keys, values = ", ".join(key_columns), ", ".join(value_columns)
    where = f"WHERE ({keys}) > ({', '.join(f'${i + 2}' for i in range(len(key_columns)))})" if after else ""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            f"SELECT {keys}, {values} FROM {table} {where} ORDER BY {keys} LIMIT $1 FOR UPDATE SKIP LOCKED",
            batch,
            *(after or []),
        )
        rewritten = 0
        for row in rows:
            changes = {
                c: cipher.rotate(row[c])
                for c in value_columns
                if row[c] is not None and not cipher.is_current(row[c])
            }
            if not changes:
                continue
            sets = ", ".join(f"{c} = ${i + 1}" for i, c in enumerate(changes))
            conds = " AND ".join(f"{k} = ${len(changes) + i + 1}" for i, k in enumerate(key_columns))
            await conn.execute(
                f"UPDATE {table} SET {sets} WHERE {conds}", *changes.values(), *(row[k] for k in key_columns)
            )
            rewritten += 1
    cursor = [rows[-1][k] for k in key_columns] if len(rows) == batch else None
    return {"table": table, "scanned": len(rows), "rewritten": rewritten, "next": cursor}


async def count_rows(pool: asyncpg.Pool, table: str) -> int:
    if not all(SCHEMA_RE.fullmatch(part) for part in table.split(".")):
        raise BadRequest(f"bad identifier {table!r}")
    return int(await pool.fetchval(f"SELECT count(*) FROM {table}"))


def rotation_ops(pool: asyncpg.Pool, cipher: Cipher, tables: EncryptedTables) -> dict[str, Op]:
    """The two operations `moltgrid rotate-keys` drives, for a service's encrypted tables."""

    async def encrypted_tables(req: Any, ctx: Ctx) -> dict[str, int]:
        return {t: await count_rows(pool, t) for t in tables}

    async def reencrypt(req: ReencryptRequest, ctx: Ctx) -> dict[str, Any]:
        if req.table not in tables:
            raise NotFound(f"no encrypted table {req.table!r}; have {', '.join(tables)}")
        keys, values = tables[req.table]
        return await reencrypt_batch(pool, cipher, req.table, keys, values, req.after, req.batch)

    return {"encrypted_tables": Op(encrypted_tables), "reencrypt": Op(reencrypt, ReencryptRequest)}

"""`moltgrid rotate-keys`: re-encrypt every encrypted row with the newest key, service by service.

Each service owns its tables, so the command only drives their `encrypted_tables` and `reencrypt`
operations over NATS. Progress is saved after every batch, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS

from shared.bus import call
from shared.subjects import svc

TIMEOUT = 30.0


async def rotate_all(
    nc: NATS,
    services: list[str],
    state_file: Path,
    batch: int = 500,
    progress: Callable[[str, int], Any] | None = None,
) -> dict[str, int]:
    """Rotate every table of every service; returns rows rewritten per table."""
    state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}  # noqa: ASYNC240 - a small state file, once per run
    rewritten: dict[str, int] = {}
    for service in services:
        tables = await call(nc, svc(service, "encrypted_tables"), {}, timeout=TIMEOUT)
        if not tables.ok:
            continue  # this service stores nothing encrypted (or is not running: see the summary)
        for table, total in tables.data.items():
            cursor = state.get(table, {}).get("next")
            if state.get(table, {}).get("done"):
                continue
            bar = progress(table, total) if progress else None
            rewritten[table] = 0
            while True:
                reply = (
                    await call(
                        nc,
                        svc(service, "reencrypt"),
                        {"table": table, "after": cursor, "batch": batch},
                        timeout=TIMEOUT,
                    )
                ).unwrap()
                rewritten[table] += reply["rewritten"]
                cursor = reply["next"]
                state[table] = {"next": cursor, "done": cursor is None}
                state_file.write_text(json.dumps(state, default=str))  # noqa: ASYNC240 - a small state file, once per batch
                if bar is not None:
                    bar.update(reply["scanned"])
                if cursor is None:
                    break
            if bar is not None:
                bar.__exit__(None, None, None)
    state_file.unlink(missing_ok=True)  # finished: the next rotation starts from the top  # noqa: ASYNC240 - a small state file, once per run
    return rewritten

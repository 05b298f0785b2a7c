"""Row conversion and the one place database errors become domain errors for the directory's stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from shared.errors import Conflict, NotFound
from shared.timeutil import iso

TIMESTAMPS = ("created_at", "busy_until")


def row_dict(r: asyncpg.Record) -> dict[str, Any]:
    """A row as a reply fragment: timestamps as ISO 8601 text."""
    out = dict(r)
    for k in TIMESTAMPS:
        if k in out:
            out[k] = iso(out[k])
    return out


def changed(status: str) -> bool:
    """Whether an UPDATE/DELETE status string (`UPDATE n`) touched a row."""
    return not status.endswith(" 0")


@contextmanager
def domain_errors(missing: str = "Agent not found") -> Iterator[None]:
    """A row that refers to an agent that is gone (foreign key) is that agent not being found; a duplicate
    key is a conflict."""
    try:
        yield
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(missing) from None
    except asyncpg.UniqueViolationError:
        raise Conflict("Already exists") from None

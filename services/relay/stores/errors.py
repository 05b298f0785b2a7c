"""The one place where the relay turns database errors into domain errors: a foreign key that no longer
exists (a webhook deleted while one of its deliveries was being written) is a 404, a duplicate is a 409."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from shared.errors import Conflict, NotFound


@contextmanager
def domain_errors(missing: str = "Not found", duplicate: str = "Already exists") -> Iterator[None]:
    """Wrap a write: a foreign-key violation becomes NotFound(missing), a unique violation Conflict(duplicate)."""
    try:
        yield
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(missing) from None
    except asyncpg.UniqueViolationError:
        raise Conflict(duplicate) from None


def affected(status: str) -> int:
    """Rows an INSERT/UPDATE/DELETE touched, from asyncpg's command tag ("UPDATE 3")."""
    return int(status.split()[-1])

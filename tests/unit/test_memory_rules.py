"""Pure logic of the memory service (no process boundary crossed): the one mapping of database errors to
domain errors, and the planning of a session fold."""

from __future__ import annotations

import asyncpg
import pytest

from services.memory.conversation import keep_newest_prefix, over_budget_prefix, pinned
from services.memory.db import affected, domain_errors
from services.memory.models.vectors import VectorSearch
from services.memory.stores.sessions import StoredMessage, default_title
from shared.errors import BadRequest, Conflict, NotFound


@pytest.mark.parametrize(
    "raised, expected",
    [
        (asyncpg.UniqueViolationError, Conflict),
        (asyncpg.ForeignKeyViolationError, NotFound),
        (asyncpg.CheckViolationError, BadRequest),
    ],
)
def test_integrity_errors_become_domain_errors(raised, expected):
    with pytest.raises(expected), domain_errors():
        raise raised("violated")


def test_other_errors_pass_unchanged_and_status_tags_count_rows():
    with pytest.raises(asyncpg.PostgresConnectionError), domain_errors():
        raise asyncpg.PostgresConnectionError("down")
    assert (affected("DELETE 3"), affected("UPDATE 0"), affected("INSERT 0 1")) == (3, 0, 1)


def test_a_fold_is_planned_over_the_messages_that_are_not_system_messages():
    def msg(seq: int, role: str = "user", tokens: int = 100, summary: bool = False) -> StoredMessage:
        return StoredMessage(seq, role, f"m{seq}", tokens, summary)

    messages = [msg(1, "system"), msg(2, "system", summary=True), *(msg(i) for i in range(3, 16))]
    assert [m.seq for m in messages if pinned(m)] == [1]  # a summary is folded again, a system message never
    others = [m for m in messages if not pinned(m)]
    assert keep_newest_prefix(others) == 4  # the summary and three oldest; the ten newest stay
    assert over_budget_prefix(others, 1000) == len(others) - 7  # 750 tokens of room once a summary fits
    assert over_budget_prefix([msg(1, tokens=5000)], 1000) == 0  # the newest is kept even alone over


def test_untitled_sessions_and_vector_search_aliases():
    from datetime import UTC, datetime, timedelta, timezone

    late = datetime(2026, 12, 2, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # already the 3rd in UTC
    assert default_title(late) == "Session 2026-12-03" and default_title(
        late.astimezone(UTC)
    ) == default_title(late)
    assert VectorSearch.model_validate({"query": "q", "top_k": 3, "min_score": 0.5}).limit == 3
    assert VectorSearch.model_validate({"query": "q", "limit": 2, "top_k": 3}).limit == 2

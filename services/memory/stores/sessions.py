"""All SQL of sessions (short-term conversation memory): `memory.sessions` and `memory.session_messages`.

Appends take the session row's lock (one UPDATE), so concurrent appends on any replica get consecutive seqs.
A fold (messages replaced by their summary) is planned on a snapshot without a lock, since asking a model
takes seconds, and applied only if the session has not been folded since (`folds` counter)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from services.memory.db import Db, affected
from services.memory.stores import RECALL_SCAN
from shared.crypto import Cipher
from shared.ids import new_id
from shared.timeutil import iso, utcnow

_PINNED = "(role = 'system' AND NOT is_summary)"  # system messages: never folded, kept at the head
_SHIFT = 1 << 62  # moves seqs out of the way while the head is renumbered


def default_title(created_at: datetime) -> str:
    """1.0's title of a session created without one: its creation date (UTC)."""
    return f"Session {created_at.astimezone(UTC):%Y-%m-%d}"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    seq: int
    role: str
    content: str
    tokens: int
    is_summary: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    folds: int
    max_tokens: int
    messages: list[StoredMessage]


def _times(r: asyncpg.Record) -> dict[str, Any]:
    return {"created_at": iso(r["created_at"]), "updated_at": iso(r["updated_at"])}


class SessionStore:
    def __init__(self, db: Db, cipher: Cipher) -> None:
        self._db, self._cipher = db, cipher

    def _enc(self, text: str | None) -> str | None:
        return None if text is None else self._cipher.encrypt(text)

    def _dec(self, stored: str | None) -> str | None:
        return None if stored is None else self._cipher.decrypt(stored)

    def _json(self, value: Any) -> str | None:
        return None if value is None else self._cipher.encrypt(orjson.dumps(value).decode())

    def _unjson(self, stored: str | None) -> Any:
        return None if stored is None else orjson.loads(self._cipher.decrypt(stored))

    # ── sessions ────────────────────────────────────────────────────────────
    async def create(
        self, agent_id: str, title: str | None, metadata: Any, max_tokens: int
    ) -> dict[str, Any]:
        session_id, created_at = new_id("sess", 16), utcnow()
        title = default_title(created_at) if title is None else title
        await self._db.execute(
            "INSERT INTO memory.sessions (session_id, agent_id, title, metadata, max_tokens, created_at,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            session_id,
            agent_id,
            self._enc(title),
            self._json(metadata),
            max_tokens,
            created_at,
        )
        return {
            "session_id": session_id,
            "title": title,
            "created_at": iso(created_at),
            "max_tokens": max_tokens,
        }

    def _title(self, r: asyncpg.Record) -> str:
        """The stored title (a session stored without one, before titles defaulted, gets the default)."""
        title = self._dec(r["title"])
        return default_title(r["created_at"]) if title is None else title

    async def sessions(self, agent_id: str, limit: int) -> list[dict[str, Any]]:
        rows = await self._db.fetch(
            "SELECT s.session_id, s.title, s.token_count, s.max_tokens, s.created_at, s.updated_at,"
            " (SELECT count(*) FROM memory.session_messages m WHERE m.session_id = s.session_id) AS message_count"
            " FROM memory.sessions s WHERE s.agent_id = $1 ORDER BY s.created_at DESC, s.session_id LIMIT $2",
            agent_id,
            limit,
        )
        return [
            {
                "session_id": r["session_id"],
                "title": self._title(r),
                "token_count": r["token_count"],
                "max_tokens": r["max_tokens"],
                **_times(r),
                "message_count": r["message_count"],
            }
            for r in rows
        ]

    async def get(self, agent_id: str, session_id: str) -> dict[str, Any] | None:
        async with self._db.transaction(isolation="repeatable_read", readonly=True) as conn:
            s = await conn.fetchrow(
                "SELECT title, metadata, token_count, max_tokens, created_at, updated_at FROM memory.sessions"
                " WHERE session_id = $1 AND agent_id = $2",
                session_id,
                agent_id,
            )
            if s is None:
                return None
            rows = await conn.fetch(
                "SELECT role, content FROM memory.session_messages WHERE session_id = $1 ORDER BY seq",
                session_id,
            )
        return {
            "session_id": session_id,
            "agent_id": agent_id,
            "title": self._title(s),
            "messages": [{"role": r["role"], "content": self._dec(r["content"])} for r in rows],
            "metadata": self._unjson(s["metadata"]),
            "token_count": s["token_count"],
            "max_tokens": s["max_tokens"],
            **_times(s),
            "message_count": len(rows),
        }

    async def delete(self, agent_id: str, session_id: str) -> bool:
        status = await self._db.execute(
            "DELETE FROM memory.sessions WHERE session_id = $1 AND agent_id = $2", session_id, agent_id
        )
        return affected(status) > 0

    async def append(
        self, agent_id: str, session_id: str, role: str, content: str, tokens: int
    ) -> dict[str, int] | None:
        """Add one message; returns the session's message_count, token_count and max_tokens (None: no session)."""
        async with self._db.transaction() as conn:
            s = await conn.fetchrow(
                "UPDATE memory.sessions SET next_seq = next_seq + 1, token_count = token_count + $3,"
                " updated_at = now() WHERE session_id = $1 AND agent_id = $2"
                " RETURNING next_seq - 1 AS seq, token_count, max_tokens",
                session_id,
                agent_id,
                tokens,
            )
            if s is None:
                return None
            await conn.execute(
                "INSERT INTO memory.session_messages (session_id, seq, role, content, tokens)"
                " VALUES ($1, $2, $3, $4, $5)",
                session_id,
                s["seq"],
                role,
                self._enc(content),
                tokens,
            )
            count = await conn.fetchval(
                "SELECT count(*) FROM memory.session_messages WHERE session_id = $1", session_id
            )
        return {"message_count": count, "token_count": s["token_count"], "max_tokens": s["max_tokens"]}

    async def snapshot(self, agent_id: str, session_id: str) -> Snapshot | None:
        async with self._db.transaction(isolation="repeatable_read", readonly=True) as conn:
            s = await conn.fetchrow(
                "SELECT folds, max_tokens FROM memory.sessions WHERE session_id = $1 AND agent_id = $2",
                session_id,
                agent_id,
            )
            if s is None:
                return None
            rows = await conn.fetch(
                "SELECT seq, role, content, tokens, is_summary FROM memory.session_messages"
                " WHERE session_id = $1 ORDER BY seq",
                session_id,
            )
        return Snapshot(
            s["folds"],
            s["max_tokens"],
            [
                StoredMessage(
                    r["seq"], r["role"], self._cipher.decrypt(r["content"]), r["tokens"], r["is_summary"]
                )
                for r in rows
            ],
        )

    async def fold(
        self, agent_id: str, session_id: str, folds: int, upto_seq: int, summary: str, summary_tokens: int
    ) -> dict[str, int] | None:
        """Replace the messages up to `upto_seq` (all but the system messages) by one summary message, and
        renumber so that the system messages come first, in order, then the summary, then the messages kept;
        unless the session was folded since the snapshot (`folds`) or is gone. Returns the new message_count
        and token_count when applied."""
        async with self._db.transaction() as conn:
            s = await conn.fetchrow(
                "SELECT folds, next_seq FROM memory.sessions WHERE session_id = $1 AND agent_id = $2 FOR UPDATE",
                session_id,
                agent_id,
            )
            if s is None or s["folds"] != folds:
                return None
            await conn.execute(
                f"DELETE FROM memory.session_messages WHERE session_id = $1 AND seq <= $2 AND NOT {_PINNED}",
                session_id,
                upto_seq,
            )
            first_kept = await conn.fetchval(
                f"SELECT min(seq) FROM memory.session_messages WHERE session_id = $1 AND NOT {_PINNED}",
                session_id,
            )
            pinned = [
                r["seq"]
                for r in await conn.fetch(
                    f"SELECT seq FROM memory.session_messages WHERE session_id = $1 AND {_PINNED} ORDER BY seq",
                    session_id,
                )
            ]
            head = (s["next_seq"] if first_kept is None else first_kept) - len(pinned) - 1
            if pinned != list(range(head, head + len(pinned))):
                # two steps, through seqs no row uses, so that no row ever takes another's seq on the way
                await conn.execute(
                    f"UPDATE memory.session_messages SET seq = seq - {_SHIFT} WHERE session_id = $1 AND {_PINNED}",
                    session_id,
                )
                await conn.execute(
                    "UPDATE memory.session_messages m SET seq = v.new FROM unnest($2::bigint[], $3::bigint[])"
                    " AS v(old, new) WHERE m.session_id = $1 AND m.seq = v.old",
                    session_id,
                    [seq - _SHIFT for seq in pinned],
                    list(range(head, head + len(pinned))),
                )
            await conn.execute(
                "INSERT INTO memory.session_messages (session_id, seq, role, content, tokens,"
                " is_summary) VALUES ($1, $2, 'system', $3, $4, true)",
                session_id,
                head + len(pinned),
                self._enc(summary),
                summary_tokens,
            )
            r = await conn.fetchrow(
                "UPDATE memory.sessions SET folds = folds + 1, updated_at = now(), token_count ="
                " (SELECT coalesce(sum(tokens), 0) FROM memory.session_messages WHERE session_id = $1)"
                " WHERE session_id = $1 RETURNING token_count,"
                " (SELECT count(*) FROM memory.session_messages WHERE session_id = $1) AS message_count",
                session_id,
            )
        return {"message_count": r["message_count"], "token_count": r["token_count"]}

    # ── recall candidates ───────────────────────────────────────────────────
    async def recent_messages(self, agent_id: str, session_id: str | None) -> list[dict[str, Any]]:
        """Tiered recall's short tier: the newest messages of the agent's sessions, still encrypted."""
        rows = await self._db.fetch(
            "SELECT m.session_id, m.seq, m.role, m.content, m.is_summary, m.created_at"
            " FROM memory.session_messages m JOIN memory.sessions s ON s.session_id = m.session_id"
            " WHERE s.agent_id = $1 AND ($2::text IS NULL OR s.session_id = $2)"
            " ORDER BY m.created_at DESC, m.seq DESC LIMIT $3",
            agent_id,
            session_id,
            RECALL_SCAN,
        )
        return [
            {
                "key": f"{r['session_id']}#{r['seq']}",
                "text": r["content"],
                "at": r["created_at"],
                "metadata": {"session_id": r["session_id"], "role": r["role"], "summary": r["is_summary"]},
            }
            for r in rows
        ]

    # ── housekeeping ────────────────────────────────────────────────────────
    async def delete_agent(self, agent_id: str) -> int:
        """The agent's sessions (their messages cascade)."""
        return affected(await self._db.execute("DELETE FROM memory.sessions WHERE agent_id = $1", agent_id))

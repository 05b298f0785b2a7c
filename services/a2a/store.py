"""All SQL of the A2A service: tasks with their history and durable event log, push configs, deliveries.

Every change to a task happens in one transaction that also appends its events to `a2a.events` (what streams
replay, numbered per task), records one delivery per active push config and event (what the push deliverer
sends), and writes the MoltGrid event for the other side into the outbox. Message content, artifacts,
events and push credentials are encrypted at rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from services.a2a.lifecycle import TASK_NOT_FOUND, a2a_error
from services.a2a.models import TERMINAL
from shared.crypto import Cipher
from shared.errors import NotFound
from shared.events import add_event
from shared.ids import new_id
from shared.timeutil import iso, utcnow

TASK_COLUMNS = "task_id, context_id, agent_id, caller_id, state, status, artifacts, metadata, last_seq, created_at, updated_at"


def not_found(task_id: str) -> NotFound:
    return NotFound("Task not found", a2a_error(TASK_NOT_FOUND))


def timestamp(value: datetime) -> str:
    """ProtoJSON timestamps: UTC with a Z suffix, milliseconds."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Change:
    """What a task change appends: events for the stream and the MoltGrid event for the other side."""

    events: list[dict[str, Any]]
    notify_agent: str  # who gets the MoltGrid event
    event_type: str
    event_data: dict[str, Any]


class A2AStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher) -> None:
        self.pool, self.cipher = pool, cipher

    def _dump(self, value: Any) -> str:
        return self.cipher.encrypt(orjson.dumps(value).decode())

    def _load(self, stored: str | None) -> Any:
        return None if stored is None else orjson.loads(self.cipher.decrypt(stored))

    # ── reading ──

    async def task_row(
        self, conn: asyncpg.Connection | asyncpg.Pool, task_id: str, lock: bool = False
    ) -> Any:
        sql = f"SELECT {TASK_COLUMNS} FROM a2a.tasks WHERE task_id = $1" + (" FOR UPDATE" if lock else "")
        return await conn.fetchrow(sql, task_id)

    async def snapshot(
        self,
        row: asyncpg.Record,
        history_length: int | None = None,
        include_artifacts: bool = True,
        conn: asyncpg.Connection | None = None,
    ) -> dict[str, Any]:
        """The Task object: status, artifacts and (the newest `history_length` of) its history."""
        db = conn or self.pool
        status: dict[str, Any] = {"state": row["state"], "timestamp": timestamp(row["updated_at"])}
        message = self._load(row["status"])
        if message:
            status["message"] = message
        task: dict[str, Any] = {"id": row["task_id"], "contextId": row["context_id"], "status": status}
        if include_artifacts:
            task["artifacts"] = self._load(row["artifacts"]) or []
        if history_length is None or history_length > 0:
            rows = await db.fetch(
                "SELECT message FROM (SELECT seq, message FROM a2a.history WHERE task_id = $1"
                " ORDER BY seq DESC LIMIT $2) h ORDER BY seq",
                row["task_id"],
                history_length if history_length is not None else 1000,
            )
            task["history"] = [self._load(r["message"]) for r in rows]
        metadata = self._load(row["metadata"])
        if metadata:
            task["metadata"] = metadata
        return task

    async def visible_task(self, task_id: str, agent_id: str, viewer: str) -> asyncpg.Record:
        """A task of the hosted `agent_id` that `viewer` (its caller or the agent itself) may see."""
        row = await self.task_row(self.pool, task_id)
        if row is None or row["agent_id"] != agent_id or viewer not in (row["caller_id"], row["agent_id"]):
            raise not_found(task_id)
        return row

    async def list_tasks(
        self,
        agent_id: str,
        viewer: str,
        context_id: str | None,
        state: str | None,
        limit: int,
        cursor: tuple[datetime, str] | None,
    ) -> tuple[list[asyncpg.Record], int]:
        """Tasks of `agent_id` that `viewer` may see, newest update first, after the cursor."""
        where = (
            "agent_id = $1 AND ($2 = agent_id OR caller_id = $2)"
            " AND ($3::text IS NULL OR context_id = $3) AND ($4::text IS NULL OR state = $4)"
        )
        args: list[Any] = [agent_id, viewer, context_id, state]
        total = int(await self.pool.fetchval(f"SELECT count(*) FROM a2a.tasks WHERE {where}", *args))
        page_where = where + (" AND (updated_at, task_id) < ($6, $7)" if cursor else "")
        rows = await self.pool.fetch(
            f"SELECT {TASK_COLUMNS} FROM a2a.tasks WHERE {page_where} ORDER BY updated_at DESC, task_id DESC LIMIT $5",
            *args,
            limit,
            *(cursor or ()),
        )
        return list(rows), total

    async def hosted_tasks(
        self, agent_id: str, state: str | None, cursor: tuple[datetime, str] | None, limit: int
    ) -> list[asyncpg.Record]:
        """Tasks addressed to a hosted agent, oldest update first (its work queue), after the cursor."""
        rows = await self.pool.fetch(
            f"SELECT {TASK_COLUMNS} FROM a2a.tasks WHERE agent_id = $1 AND ($2::text IS NULL OR state = $2)"
            + (" AND (updated_at, task_id) > ($4, $5)" if cursor else "")
            + " ORDER BY updated_at, task_id LIMIT $3",
            agent_id,
            state,
            limit,
            *(cursor or ()),
        )
        return list(rows)

    async def events_after(self, task_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT seq, body, terminal FROM a2a.events WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            task_id,
            after,
            limit,
        )
        return [{"seq": r["seq"], "body": self._load(r["body"]), "terminal": r["terminal"]} for r in rows]

    # ── changing ──

    async def create(
        self,
        agent_id: str,
        caller_id: str,
        message: dict[str, Any],
        metadata: dict[str, Any] | None,
        input_timeout: int | None,
        push: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], int]:
        task_id = new_id("task", 24)
        context_id = message.get("contextId") or new_id("ctx", 24)
        message = {**message, "taskId": task_id, "contextId": context_id}
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO a2a.tasks (task_id, context_id, agent_id, caller_id, state, status, artifacts, metadata,"
                " input_timeout_seconds) VALUES ($1, $2, $3, $4, 'TASK_STATE_SUBMITTED', $5, $6, $7, $8)"
                f" RETURNING {TASK_COLUMNS}",
                task_id,
                context_id,
                agent_id,
                caller_id,
                self._dump(None),
                self._dump([]),
                self._dump(metadata) if metadata else None,
                input_timeout,
            )
            await self._add_history(conn, task_id, [message])
            if push is not None:
                await self._insert_push_config(conn, task_id, caller_id, push)
            status = {"state": "TASK_STATE_SUBMITTED", "timestamp": timestamp(row["updated_at"])}
            change = Change(
                [{"statusUpdate": {"taskId": task_id, "contextId": context_id, "status": status}}],
                agent_id,
                "a2a.task",
                {
                    "task_id": task_id,
                    "context_id": context_id,
                    "caller_id": caller_id,
                    "state": "TASK_STATE_SUBMITTED",
                    "message": message,
                },
            )
            last = await self._append(conn, row, change, terminal=False)
            return await self.snapshot(row, conn=conn), last

    async def add_message(
        self, row: asyncpg.Record, message: dict[str, Any], state: str
    ) -> tuple[dict[str, Any], int]:
        """A caller's follow-up message on `row` (locked again here), leading to `state`."""
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self.task_row(conn, row["task_id"], lock=True)
            message = {**message, "taskId": locked["task_id"], "contextId": locked["context_id"]}
            await self._add_history(conn, locked["task_id"], [message])
            events: list[dict[str, Any]] = []
            updated = await conn.fetchrow(
                f"UPDATE a2a.tasks SET state = $2, updated_at = now() WHERE task_id = $1 RETURNING {TASK_COLUMNS}",
                locked["task_id"],
                state,
            )
            if state != locked["state"]:
                events.append(self._status_event(updated, None))
            change = Change(
                events,
                locked["agent_id"],
                "a2a.task",
                {
                    "task_id": locked["task_id"],
                    "context_id": locked["context_id"],
                    "caller_id": locked["caller_id"],
                    "state": state,
                    "message": message,
                },
            )
            last = await self._append(conn, updated, change, terminal=False)
            return await self.snapshot(updated, conn=conn), last

    async def set_state(
        self,
        task_id: str,
        new_state: Any,
        message: dict[str, Any] | None,
        artifacts: list[dict[str, Any]] | None,
        *,
        actor: str,
        only_agent: str | None = None,
    ) -> dict[str, Any]:
        """Move a task to the state `new_state(current)` returns (it raises when the move is illegal), with
        the agent's status message and new artifacts. `only_agent`: the task must be addressed to it."""
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self.task_row(conn, task_id, lock=True)
            if locked is None or (only_agent is not None and locked["agent_id"] != only_agent):
                raise not_found(task_id)
            state = new_state(locked["state"])
            if message is not None:
                message = {**message, "taskId": task_id, "contextId": locked["context_id"]}
                await self._add_history(conn, task_id, [message])
            stored = (self._load(locked["artifacts"]) or []) + (artifacts or [])
            updated = await conn.fetchrow(
                "UPDATE a2a.tasks SET state = $2, status = $3, artifacts = $4, updated_at = now()"
                f" WHERE task_id = $1 RETURNING {TASK_COLUMNS}",
                task_id,
                state,
                self._dump(message),
                self._dump(stored),
            )
            events = [
                {
                    "artifactUpdate": {
                        "taskId": task_id,
                        "contextId": locked["context_id"],
                        "artifact": a,
                        "append": False,
                        "lastChunk": True,
                    }
                }
                for a in artifacts or []
            ]
            events.append(self._status_event(updated, message))
            other = locked["caller_id"] if actor == locked["agent_id"] else locked["agent_id"]
            change = Change(
                events,
                other,
                "a2a.task_update",
                {
                    "task_id": task_id,
                    "context_id": locked["context_id"],
                    "agent_id": locked["agent_id"],
                    "state": state,
                },
            )

            await self._append(conn, updated, change, terminal=state in TERMINAL)
            return await self.snapshot(updated, conn=conn)

    def _status_event(self, row: asyncpg.Record, message: dict[str, Any] | None) -> dict[str, Any]:
        status: dict[str, Any] = {"state": row["state"], "timestamp": timestamp(row["updated_at"])}
        if message:
            status["message"] = message
        return {"statusUpdate": {"taskId": row["task_id"], "contextId": row["context_id"], "status": status}}

    async def _add_history(
        self, conn: asyncpg.Connection, task_id: str, messages: list[dict[str, Any]]
    ) -> None:
        start = int(
            await conn.fetchval("SELECT coalesce(max(seq), 0) FROM a2a.history WHERE task_id = $1", task_id)
        )
        await conn.executemany(
            "INSERT INTO a2a.history (task_id, seq, message) VALUES ($1, $2, $3)",
            [(task_id, start + i + 1, self._dump(m)) for i, m in enumerate(messages)],
        )

    async def _append(
        self, conn: asyncpg.Connection, row: asyncpg.Record, change: Change, terminal: bool
    ) -> int:
        """Number the change's events after the task's last one, record their push deliveries, and write the
        MoltGrid event for the other side. Returns the number of the task's last logged event."""
        last = int(row["last_seq"])
        if change.events:
            last = int(
                await conn.fetchval(
                    "UPDATE a2a.tasks SET last_seq = last_seq + $2 WHERE task_id = $1 RETURNING last_seq",
                    row["task_id"],
                    len(change.events),
                )
            )
            first = last - len(change.events) + 1
            await conn.executemany(
                "INSERT INTO a2a.events (task_id, seq, body, terminal) VALUES ($1, $2, $3, $4)",
                [
                    (row["task_id"], first + i, self._dump(e), terminal and i == len(change.events) - 1)
                    for i, e in enumerate(change.events)
                ],
            )
            await conn.execute(
                "INSERT INTO a2a.deliveries (delivery_id, task_id, config_id, seq)"
                " SELECT 'a2ad_' || substr(md5(random()::text || clock_timestamp()::text), 1, 20), c.task_id,"
                "        c.config_id, s.seq"
                "   FROM a2a.push_configs c CROSS JOIN generate_series($2::bigint, $3::bigint) AS s(seq)"
                "  WHERE c.task_id = $1 AND c.active",
                row["task_id"],
                first,
                last,
            )
        if change.notify_agent:
            await add_event(conn, "a2a", change.notify_agent, change.event_type, change.event_data)
        return last

    # ── push configs ──

    async def _insert_push_config(
        self, conn: asyncpg.Connection, task_id: str, owner: str, config: dict[str, Any]
    ) -> dict[str, Any]:
        config_id = config.get("id") or new_id("pnc", 16)
        await conn.execute(
            "INSERT INTO a2a.push_configs (config_id, task_id, owner_id, url, token, auth) VALUES ($1, $2, $3, $4,"
            " $5, $6) ON CONFLICT (task_id, config_id) DO UPDATE SET url = EXCLUDED.url, token = EXCLUDED.token,"
            " auth = EXCLUDED.auth, active = true, failures = 0",
            config_id,
            task_id,
            owner,
            config["url"],
            self._dump(config["token"]) if config.get("token") else None,
            self._dump(config["authentication"]) if config.get("authentication") else None,
        )
        return self._config_out(
            task_id, config_id, config["url"], config.get("token"), config.get("authentication")
        )

    @staticmethod
    def _config_out(
        task_id: str, config_id: str, url: str, token: str | None, auth: dict[str, Any] | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"id": config_id, "taskId": task_id, "url": url}
        if token:
            out["token"] = token
        if auth:
            out["authentication"] = auth
        return out

    async def add_push_config(self, task_id: str, owner: str, config: dict[str, Any]) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._insert_push_config(conn, task_id, owner, config)

    async def push_configs(
        self, task_id: str, owner: str, config_id: str | None = None
    ) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT config_id, url, token, auth FROM a2a.push_configs WHERE task_id = $1 AND owner_id = $2"
            " AND ($3::text IS NULL OR config_id = $3) ORDER BY created_at, config_id",
            task_id,
            owner,
            config_id,
        )
        return [
            self._config_out(task_id, r["config_id"], r["url"], self._load(r["token"]), self._load(r["auth"]))
            for r in rows
        ]

    async def delete_push_config(self, task_id: str, owner: str, config_id: str) -> None:
        await self.pool.execute(
            "DELETE FROM a2a.push_configs WHERE task_id = $1 AND owner_id = $2 AND config_id = $3",
            task_id,
            owner,
            config_id,
        )

    # ── push deliveries ──

    async def claim_deliveries(self, limit: int, lease_seconds: float) -> list[dict[str, Any]]:
        """Due deliveries, each claimed for one attempt (its next attempt moved past the lease), fairly across
        task owners (at most a few per owner per batch, so one owner's dead receiver cannot fill the batch), and
        in order per config: an event is sent only once every earlier one was delivered or given up."""
        rows = await self.pool.fetch(
            """
            WITH due AS (
                SELECT d.delivery_id, row_number() OVER (PARTITION BY c.owner_id ORDER BY d.next_attempt_at) AS n
                  FROM a2a.deliveries d JOIN a2a.push_configs c USING (task_id, config_id)
                 WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND c.active
                   AND NOT EXISTS (SELECT 1 FROM a2a.deliveries p WHERE p.task_id = d.task_id
                                      AND p.config_id = d.config_id AND p.status = 'pending' AND p.seq < d.seq)
                 ORDER BY d.next_attempt_at LIMIT $1 * 4),
            picked AS (
                SELECT delivery_id FROM a2a.deliveries WHERE delivery_id IN (SELECT delivery_id FROM due WHERE n <= 4)
                 ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            UPDATE a2a.deliveries d SET next_attempt_at = now() + make_interval(secs => $2), attempts = attempts + 1
              FROM picked, a2a.push_configs c, a2a.events e
             WHERE d.delivery_id = picked.delivery_id AND c.task_id = d.task_id AND c.config_id = d.config_id
               AND e.task_id = d.task_id AND e.seq = d.seq
            RETURNING d.delivery_id, d.task_id, d.config_id, d.seq, d.attempts, c.url, c.token, c.auth, e.body
            """,
            limit,
            lease_seconds,
        )
        return [
            {
                **dict(r),
                "token": self._load(r["token"]),
                "auth": self._load(r["auth"]),
                "body": self._load(r["body"]),
            }
            for r in rows
        ]

    async def record_attempt(
        self,
        delivery: dict[str, Any],
        delivered: bool,
        status: int | None,
        error: str | None,
        retry_in: float | None,
        disable_after: int,
    ) -> None:
        """The outcome of one attempt: delivered, retried after `retry_in` seconds, or failed for good (None);
        a config whose deliveries failed for good `disable_after` times in a row is disabled."""
        async with self.pool.acquire() as conn, conn.transaction():
            if delivered:
                await conn.execute(
                    "UPDATE a2a.deliveries SET status = 'delivered', delivered_at = now(), last_status = $2,"
                    " last_error = NULL WHERE delivery_id = $1",
                    delivery["delivery_id"],
                    status,
                )
                await conn.execute(
                    "UPDATE a2a.push_configs SET failures = 0 WHERE task_id = $1 AND config_id = $2",
                    delivery["task_id"],
                    delivery["config_id"],
                )
                return
            if retry_in is not None:
                await conn.execute(
                    "UPDATE a2a.deliveries SET next_attempt_at = now() + make_interval(secs => $2), last_status = $3,"
                    " last_error = $4 WHERE delivery_id = $1",
                    delivery["delivery_id"],
                    retry_in,
                    status,
                    error,
                )
                return
            await conn.execute(
                "UPDATE a2a.deliveries SET status = 'failed', last_status = $2, last_error = $3 WHERE delivery_id = $1",
                delivery["delivery_id"],
                status,
                error,
            )
            await conn.execute(
                "UPDATE a2a.push_configs SET failures = failures + 1, active = failures + 1 < $3"
                " WHERE task_id = $1 AND config_id = $2",
                delivery["task_id"],
                delivery["config_id"],
                disable_after,
            )

    async def delivery_log(self, task_id: str, owner: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT d.delivery_id, d.config_id, d.seq, d.status, d.attempts, d.last_status, d.last_error,"
            "       d.created_at, d.delivered_at"
            "  FROM a2a.deliveries d JOIN a2a.push_configs c USING (task_id, config_id)"
            " WHERE d.task_id = $1 AND c.owner_id = $2 ORDER BY d.created_at DESC LIMIT $3",
            task_id,
            owner,
            limit,
        )
        return [
            {**dict(r), "created_at": iso(r["created_at"]), "delivered_at": iso(r["delivered_at"])}
            for r in rows
        ]

    # ── outside agents ──

    async def external_count(self, added_by: str) -> int:
        return int(
            await self.pool.fetchval("SELECT count(*) FROM a2a.external_agents WHERE added_by = $1", added_by)
        )

    async def add_external(
        self, card_url: str, card: dict[str, Any], added_by: str, refresh_seconds: float
    ) -> dict[str, Any]:
        """List (or re-list, refreshing its card) an outside agent; the URL is the identity."""
        row = await self.pool.fetchrow(
            "INSERT INTO a2a.external_agents (external_id, card_url, card, added_by, next_refresh_at)"
            " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))"
            " ON CONFLICT (card_url) DO UPDATE SET card = EXCLUDED.card, valid = true, last_error = NULL,"
            " fetched_at = now()"
            " RETURNING external_id, card_url, card, added_by, valid, last_error, fetched_at",
            new_id("ext", 16),
            card_url,
            card,
            added_by,
            refresh_seconds,
        )
        return self._external_out(row)

    @staticmethod
    def _external_out(row: asyncpg.Record) -> dict[str, Any]:
        card = row["card"]
        return {
            "external_id": row["external_id"],
            "card_url": row["card_url"],
            "name": card.get("name"),
            "description": card.get("description"),
            "skills": [s.get("id") for s in card.get("skills", [])],
            "card": card,
            "listed_by": row["added_by"],
            "valid": row["valid"],
            "last_error": row["last_error"],
            "fetched_at": iso(row["fetched_at"]),
        }

    async def external_owner(self, external_id: str) -> str | None:
        owner = await self.pool.fetchval(
            "SELECT added_by FROM a2a.external_agents WHERE external_id = $1", external_id
        )
        return str(owner) if owner is not None else None

    async def remove_external(self, external_id: str) -> None:
        await self.pool.execute("DELETE FROM a2a.external_agents WHERE external_id = $1", external_id)

    async def list_external(self, limit: int) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT external_id, card_url, card, added_by, valid, last_error, fetched_at FROM a2a.external_agents"
            " ORDER BY created_at DESC LIMIT $1",
            limit,
        )
        return [self._external_out(r) for r in rows]

    async def due_external(self, limit: int, every_seconds: float) -> list[asyncpg.Record]:
        """Cards due for a refresh, claimed by pushing their next refresh past this one."""
        return list(
            await self.pool.fetch(
                "UPDATE a2a.external_agents SET next_refresh_at = now() + make_interval(secs => $2)"
                " WHERE external_id IN (SELECT external_id FROM a2a.external_agents WHERE next_refresh_at <= now()"
                " ORDER BY next_refresh_at LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING external_id, card_url",
                limit,
                every_seconds,
            )
        )

    async def external_refreshed(
        self, external_id: str, card: dict[str, Any] | None, error: str | None
    ) -> None:
        """A refresh's outcome: the new valid card, or the error (the last valid card stays, marked invalid)."""
        if card is not None:
            await self.pool.execute(
                "UPDATE a2a.external_agents SET card = $2, valid = true, last_error = NULL, fetched_at = now()"
                " WHERE external_id = $1",
                external_id,
                card,
            )
        else:
            await self.pool.execute(
                "UPDATE a2a.external_agents SET valid = false, last_error = $2 WHERE external_id = $1",
                external_id,
                error,
            )

    # ── housekeeping ──

    async def expired_waits(self, limit: int = 100) -> list[str]:
        """Interrupted tasks whose caller did not answer within the task's own input timeout."""
        rows = await self.pool.fetch(
            "SELECT task_id FROM a2a.tasks WHERE state IN ('TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_AUTH_REQUIRED')"
            " AND input_timeout_seconds IS NOT NULL"
            " AND updated_at + make_interval(secs => input_timeout_seconds) < $1 LIMIT $2",
            utcnow(),
            limit,
        )
        return [r["task_id"] for r in rows]

    async def purge_agent(self, agent_id: str) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            tasks = await conn.execute(
                "DELETE FROM a2a.tasks WHERE agent_id = $1 OR caller_id = $1", agent_id
            )
            listed = await conn.execute("DELETE FROM a2a.external_agents WHERE added_by = $1", agent_id)
        return int(tasks.split()[-1]) + int(listed.split()[-1])

    async def total_tasks(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM a2a.tasks"))

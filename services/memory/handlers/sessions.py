"""Session operations (1.0's /v1/sessions): create, list, read, delete, append and summarize."""

from __future__ import annotations

from typing import Any

from services.memory.conversation import NOT_FOUND, Conversations, describe, keep_newest_prefix
from services.memory.models import sessions as m
from services.memory.stores.sessions import SessionStore
from shared.bus import Ctx
from shared.errors import NotFound, found
from shared.ops import OpGroup, op


class SessionHandlers(OpGroup):
    prefix = "session_"

    def __init__(self, store: SessionStore, conversations: Conversations) -> None:
        self.store, self.conversations = store, conversations

    @op()
    async def create(self, req: m.SessionCreate, ctx: Ctx) -> dict[str, Any]:
        return await self.store.create(ctx.require_agent(), req.title, req.metadata, req.max_tokens)

    @op("list")
    async def list_sessions(self, req: m.SessionList, ctx: Ctx) -> dict[str, Any]:
        sessions = await self.store.sessions(ctx.require_agent(), req.limit)
        return {"sessions": sessions, "count": len(sessions)}

    @op()
    async def get(self, req: m.SessionRef, ctx: Ctx) -> dict[str, Any]:
        return found(await self.store.get(ctx.require_agent(), req.session_id), NOT_FOUND)

    @op()
    async def delete(self, req: m.SessionRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.delete(ctx.require_agent(), req.session_id):
            raise NotFound(NOT_FOUND)
        return {"status": "deleted", "session_id": req.session_id}

    @op()
    async def append(self, req: m.SessionAppend, ctx: Ctx) -> dict[str, Any]:
        appended = await self.conversations.append_message(
            ctx.require_agent(), req.session_id, req.role, req.content
        )
        return {"status": "appended", **appended}

    @op()
    async def summarize(self, req: m.SessionRef, ctx: Ctx) -> dict[str, Any]:
        folded = await self.conversations.fold(
            ctx.require_agent(), req.session_id, lambda msgs, _: keep_newest_prefix(msgs)
        )
        return {
            "status": "summarized",
            "original_message_count": folded.original_message_count,
            "new_message_count": folded.message_count,
            "token_count": folded.token_count,
            **describe(folded.summary),
        }

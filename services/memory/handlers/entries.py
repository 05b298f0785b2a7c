"""Private-entry operations (/v1/memory): versioned set with compare-and-set, get, list, delete, batches,
visibility, metadata, history, cross-agent reads and the owner's access log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from services.memory.models import entries as m
from services.memory.stores.entries import EntryStore, Write
from shared.bus import Ctx
from shared.errors import Conflict, NotFound, QuotaExceeded, found
from shared.ops import OpGroup, op

NOT_FOUND = "Key not found or expired"  # the seed's answer for a missing key, used for anything hidden too


def write_of(req: m.Set) -> Write:
    return Write(
        req.namespace,
        req.key,
        req.value,
        req.ttl_seconds,
        req.visibility,
        req.shared_agents,
        req.expected_version,
    )


def _error_text(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}" for e in exc.errors(include_url=False)
    )


class EntryHandlers(OpGroup):
    def __init__(self, store: EntryStore, kick: Callable[[], None]) -> None:
        self.store, self.kick = store, kick  # kick: publish the outbox's memory.changed events now

    @op()
    async def set(self, req: m.Set, ctx: Ctx) -> dict[str, Any]:
        """POST /v1/memory: the seed's answer plus 1.0's visibility and the new version (for compare-and-set)."""
        written = await self.store.write(ctx.require_agent(), write_of(req))
        self.kick()
        return {"status": "stored", "key": req.key, "namespace": req.namespace, **written}

    @op()
    async def get(self, req: m.KeyRef, ctx: Ctx) -> dict[str, Any]:
        return found(await self.store.get(ctx.require_agent(), req.namespace, req.key), NOT_FOUND)

    @op("list")
    async def list_keys(self, req: m.List, ctx: Ctx) -> dict[str, Any]:
        keys = await self.store.list_keys(ctx.require_agent(), req.namespace, req.prefix, req.limit)
        return {"namespace": req.namespace, "keys": keys, "count": len(keys)}

    @op()
    async def delete(self, req: m.KeyRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.delete(ctx.require_agent(), req.namespace, req.key):
            raise NotFound("Key not found")
        self.kick()
        return {"status": "deleted", "key": req.key}

    @op()
    async def batch(self, req: m.Batch, ctx: Ctx) -> dict[str, Any]:
        """Each item is validated and written on its own, in order; one failing item does not stop the rest."""
        agent_id = ctx.require_agent()
        results: list[dict[str, Any]] = []
        for raw in req.items:
            key = raw.get("key") if isinstance(raw, dict) and isinstance(raw.get("key"), str) else ""
            try:
                item = m.Set.model_validate(raw)
                written = await self.store.write(agent_id, write_of(item))
            except ValidationError as exc:
                results.append({"key": key, "success": False, "status": "invalid", "error": _error_text(exc)})
                continue
            except Conflict as exc:
                results.append({"key": key, "success": False, "status": "conflict", "error": exc.message})
                continue
            except (
                QuotaExceeded
            ) as exc:  # the agent's memory quota: this item is not stored, later ones may be
                results.append(
                    {"key": key, "success": False, "status": "quota_exceeded", "error": exc.message}
                )
                continue
            results.append(
                {
                    "key": item.key,
                    "success": True,
                    "status": "stored",
                    "error": None,
                    "namespace": item.namespace,
                    **written,
                }
            )
        succeeded = sum(1 for r in results if r["success"])
        if succeeded:
            self.kick()
        return {
            "results": results,
            "total": len(results),
            "succeeded": succeeded,
            "failed": len(results) - succeeded,
        }

    @op()
    async def set_visibility(self, req: m.VisibilityChange, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.set_visibility(
            ctx.require_agent(), req.namespace, req.key, req.visibility, req.shared_agents
        ):
            raise NotFound(NOT_FOUND)
        return {"status": "updated", "key": req.key, "visibility": req.visibility, "namespace": req.namespace}

    @op()
    async def meta(self, req: m.KeyRef, ctx: Ctx) -> dict[str, Any]:
        return found(await self.store.meta(ctx.require_agent(), req.namespace, req.key), NOT_FOUND)

    @op()
    async def history(self, req: m.History, ctx: Ctx) -> dict[str, Any]:
        history = found(
            await self.store.history(ctx.require_agent(), req.namespace, req.key, req.limit), NOT_FOUND
        )
        return {"key": req.key, "namespace": req.namespace, "history": history, "count": len(history)}

    @op()
    async def read_agent(self, req: m.CrossAgentRead, ctx: Ctx) -> dict[str, Any]:
        return found(
            await self.store.read_as(ctx.require_agent(), req.target_agent_id, req.namespace, req.key),
            NOT_FOUND,
        )

    @op()
    async def access_log(self, req: m.AccessLog, ctx: Ctx) -> dict[str, Any]:
        reads = await self.store.access_log(
            ctx.require_agent(), req.namespace, req.key, req.reader, req.limit
        )
        return {"reads": reads, "count": len(reads)}

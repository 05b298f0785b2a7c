"""The text utilities' operation: `text_process` applies one named operation to the caller's text, in the
service's worker processes (services.coordination.text.pool)."""

from __future__ import annotations

from typing import Any

from services.coordination.text.models import TextProcess
from services.coordination.text.operations import OPERATIONS
from services.coordination.text.pool import TextPool
from shared.bus import Ctx
from shared.errors import BadRequest
from shared.ops import OpGroup, op


class TextHandlers(OpGroup):
    def __init__(self, pool: TextPool) -> None:
        self.pool = pool

    @op()
    async def text_process(self, req: TextProcess, ctx: Ctx) -> dict[str, Any]:
        """Answers 1.0's `agent_id` (the caller) beside the original's `operation` and `result`."""
        agent_id = ctx.require_agent()
        if req.operation not in OPERATIONS:
            raise BadRequest(f"Unknown operation. Available: {list(OPERATIONS)}")
        try:
            result = await self.pool.run(req.operation, req.text)
        except ValueError as exc:
            raise BadRequest(f"Operation failed: {exc}") from None
        return {"operation": req.operation, "result": result, "agent_id": agent_id}

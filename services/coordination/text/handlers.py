"""The text utilities' operation: `text_process` applies one named operation to the caller's text."""

from __future__ import annotations

from typing import Any

from services.coordination.text.models import TextProcess
from services.coordination.text.operations import OPERATIONS
from shared.bus import Ctx
from shared.errors import BadRequest
from shared.ops import OpGroup, op


class TextHandlers(OpGroup):
    @op()
    async def text_process(self, req: TextProcess, ctx: Ctx) -> dict[str, Any]:
        ctx.require_agent()
        operation = OPERATIONS.get(req.operation)
        if operation is None:
            raise BadRequest(f"Unknown operation. Available: {list(OPERATIONS)}")
        try:
            result = operation(req.text)
        except ValueError as exc:
            raise BadRequest(f"Operation failed: {exc}") from None
        return {"operation": req.operation, "result": result}

"""The hub's own A2A endpoint (/a2a/hub): a message-only agent whose one skill is finding hosted agents.

A SendMessage whose text is `skill:<name>`, `capability:<name>` or a bare capability answers one Message (no
task) with a data part listing the matching public agents and their card URLs.
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from services.a2a import models as m
from shared.bus import Ctx, call
from shared.errors import BadRequest
from shared.ids import new_id
from shared.ops import OpGroup, op
from shared.subjects import svc


class HubOps(OpGroup):
    def __init__(self, nc: NATS, public_url: str) -> None:
        self.nc, self.public_url = nc, public_url.rstrip("/")

    @op()
    async def hub_send(self, req: m.HubMessage, ctx: Ctx) -> dict[str, Any]:
        text = " ".join(p.text for p in req.request.message.parts if p.text).strip()
        if not text:
            raise BadRequest("Send a text part: skill:<name>, capability:<name> or a capability")
        kind, _, value = text.partition(":") if ":" in text else ("capability", "", text)
        if kind not in ("skill", "capability") or not value.strip():
            raise BadRequest("Send a text part: skill:<name>, capability:<name> or a capability")
        found = await call(
            self.nc, svc("directory", "search"), {kind: value.strip(), "limit": 20}, timeout=2.0, ctx=ctx
        )
        agents = found.unwrap().get("agents", [])
        base = (req.base_url or self.public_url).rstrip("/")
        answer = [
            {
                "agent_id": a["agent_id"],
                "name": a.get("name"),
                "card_url": f"{base}/a2a/{a['agent_id']}/.well-known/agent-card.json",
            }
            for a in agents
        ]
        return {
            "message": {
                "messageId": new_id("msg", 20),
                "contextId": req.request.message.context_id or new_id("ctx", 24),
                "role": "ROLE_AGENT",
                "parts": [{"data": {"agents": answer}, "mediaType": "application/json"}],
            }
        }

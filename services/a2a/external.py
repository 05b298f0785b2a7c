"""Outside A2A agents in the directory: an agent (or the operator) lists one by its card URL; the card is
fetched through the SSRF guard, validated against the specification's required fields, refreshed
periodically, and listed beside the hosted agents (marked external)."""

from __future__ import annotations

from typing import Annotated, Any

import aiohttp
import orjson
from nats.aio.client import Client as NATS
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.a2a import models as m
from services.a2a.store import A2AStore
from shared.bus import Ctx, call
from shared.errors import BadRequest, Forbidden, NotFound, TooLarge
from shared.ops import OpGroup, op
from shared.outbound import GuardedClient, check_url
from shared.subjects import svc

MAX_CARD_BYTES = 256 * 1024
FETCH_TIMEOUT_S = 5.0
MAX_PER_AGENT = 20  # outside agents one agent may list


class _Card(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CardInterface(_Card):
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    protocolBinding: Annotated[str, Field(min_length=1, max_length=64)]
    protocolVersion: Annotated[str, Field(min_length=1, max_length=16)]


class CardSkill(_Card):
    id: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str, Field(min_length=1, max_length=256)]
    description: Annotated[str, Field(max_length=4096)]
    tags: list[str]


class AgentCard(_Card):
    """The fields A2A 1.0 marks REQUIRED on an AgentCard (specification/a2a.proto)."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    description: Annotated[str, Field(max_length=4096)]
    supportedInterfaces: Annotated[list[CardInterface], Field(min_length=1, max_length=16)]
    version: Annotated[str, Field(min_length=1, max_length=64)]
    capabilities: dict[str, Any]
    defaultInputModes: list[str]
    defaultOutputModes: list[str]
    skills: Annotated[list[CardSkill], Field(max_length=256)]


def validate_card(raw: Any) -> dict[str, Any]:
    try:
        return AgentCard.model_validate(raw).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadRequest(f"Not an A2A 1.0 agent card: {where}: {first['msg']}") from exc


class CardFetcher:
    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.client = GuardedClient(allow_private, 8, FETCH_TIMEOUT_S)

    async def close(self) -> None:
        await self.client.close()

    async def fetch(self, url: str) -> dict[str, Any]:
        await check_url(url, self.allow_private)
        try:
            async with self.client.http().get(
                url, allow_redirects=False, headers={"Accept": "application/json"}
            ) as r:
                if r.status != 200:
                    raise BadRequest(f"The card URL answered HTTP {r.status}")
                body = await r.content.read(MAX_CARD_BYTES + 1)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise BadRequest("The card URL could not be fetched") from exc
        if len(body) > MAX_CARD_BYTES:
            raise TooLarge(f"The card is larger than {MAX_CARD_BYTES} bytes")
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest("The card URL did not answer JSON") from exc
        return validate_card(raw)


class ExternalOps(OpGroup):
    def __init__(
        self, store: A2AStore, fetcher: CardFetcher, nc: NATS, public_url: str, refresh_seconds: float
    ) -> None:
        self.store, self.fetcher, self.nc, self.public_url = store, fetcher, nc, public_url.rstrip("/")
        self.refresh_seconds = refresh_seconds

    @op()
    async def add_external(self, req: m.ExternalAdd, ctx: Ctx) -> dict[str, Any]:
        agent = ctx.require_agent()
        if not ctx.admin and await self.store.external_count(agent) >= MAX_PER_AGENT:
            raise BadRequest(f"An agent lists at most {MAX_PER_AGENT} outside agents")
        card = await self.fetcher.fetch(req.card_url)
        return await self.store.add_external(req.card_url, card, agent, self.refresh_seconds)

    @op()
    async def remove_external(self, req: m.ExternalRef, ctx: Ctx) -> dict[str, Any]:
        owner = await self.store.external_owner(req.external_id)
        if owner is None:
            raise NotFound("Outside agent not found")
        if owner != ctx.require_agent() and not ctx.admin:
            raise Forbidden("Only the agent that listed it (or an admin) may remove it")
        await self.store.remove_external(req.external_id)
        return {"status": "removed", "external_id": req.external_id}

    @op()
    async def list_agents(self, req: m.AgentList, ctx: Ctx) -> dict[str, Any]:
        """Hosted public agents (from the directory) and outside ones, each with its card URL."""
        base = (req.base_url or self.public_url).rstrip("/")
        hosted: list[dict[str, Any]] = []
        if req.include_hosted:
            browse = await call(
                self.nc, svc("directory", "browse"), {"limit": req.limit}, timeout=2.0, ctx=ctx
            )
            for a in (browse.unwrap() or {}).get("agents", []):
                hosted.append(
                    {
                        "agent_id": a["agent_id"],
                        "name": a.get("name"),
                        "external": False,
                        "card_url": f"{base}/a2a/{a['agent_id']}/.well-known/agent-card.json",
                    }
                )
        external = [{**row, "external": True} for row in await self.store.list_external(req.limit)]
        agents = hosted + external
        return {"agents": agents, "count": len(agents)}

    async def refresh(self) -> None:
        """Re-fetch the cards due for a refresh (claimed, so replicas split the work)."""
        for row in await self.store.due_external(20, self.refresh_seconds):
            try:
                card = await self.fetcher.fetch(row["card_url"])
            except (BadRequest, TooLarge) as exc:
                await self.store.external_refreshed(row["external_id"], None, exc.message)
                continue
            await self.store.external_refreshed(row["external_id"], card, None)

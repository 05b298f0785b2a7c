"""Typed sync and async clients for the MoltGrid API.

from moltgrid_client import MoltGridClient, AsyncMoltGridClient

agent = MoltGridClient.register("http://127.0.0.1:8000", name="my-bot")
agent.memory_set("state", "hello")
async with AsyncMoltGridClient(base_url, api_key) as client:
    await client.queue_submit({"task": "scrape"})
"""

from moltgrid_client.client import AsyncMoltGridClient, MoltGridClient
from moltgrid_client.errors import MoltGridError

__all__ = ["AsyncMoltGridClient", "MoltGridClient", "MoltGridError"]

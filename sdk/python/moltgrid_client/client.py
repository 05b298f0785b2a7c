"""Sync and async transports for the shared method table, with safe retries.

A request that fails with 429/502/503/504 or a connection error is retried with exponential backoff and
jitter (honouring Retry-After). Every POST carries one Idempotency-Key for all its attempts, so a retried
POST is applied once on the server and its first answer is replayed.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import httpx

from moltgrid_client.api import Api
from moltgrid_client.errors import MoltGridError

RETRYABLE = {429, 502, 503, 504}


def _delay(attempt: int, response: httpx.Response | None, base: float) -> float:
    if response is not None and response.headers.get("Retry-After", "").isdigit():
        return float(response.headers["Retry-After"])
    return random.uniform(0, base * 2**attempt)


def _headers(method: str) -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else {}


def _result(response: httpx.Response) -> Any:
    body = response.json() if response.content else None
    if response.is_success:
        return body
    detail = body.get("detail") if isinstance(body, dict) else body
    raise MoltGridError(response.status_code, detail, response.headers.get("X-Request-ID"))


class MoltGridClient(Api):
    """Blocking client: `MoltGridClient(base_url, api_key)`; also a context manager."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        http: httpx.Client | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.retries, self.backoff = retries, backoff

    @classmethod
    def register(cls, base_url: str, name: str | None = None, **kwargs: Any) -> MoltGridClient:
        """Register a new agent and return a client authenticated as it (`.agent_id`, `.api_key`)."""
        with httpx.Client(base_url=base_url.rstrip("/")) as http:
            data = _result(http.post("/v1/register", json={"name": name}))
        client = cls(base_url, data["api_key"], **kwargs)
        client.agent_id, client.api_key = data["agent_id"], data["api_key"]
        return client

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        headers = _headers(method)
        for attempt in range(self.retries + 1):
            response = None
            try:
                response = self._http.request(method, path, json=json, params=params, headers=headers)
                if response.status_code not in RETRYABLE or attempt == self.retries:
                    return _result(response)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
            time.sleep(_delay(attempt, response, self.backoff))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MoltGridClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMoltGridClient(Api):
    """asyncio client with the same methods (each returns a coroutine)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = http or httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout
        )
        self.retries, self.backoff = retries, backoff

    @classmethod
    async def register(cls, base_url: str, name: str | None = None, **kwargs: Any) -> AsyncMoltGridClient:
        async with httpx.AsyncClient(base_url=base_url.rstrip("/")) as http:
            data = _result(await http.post("/v1/register", json={"name": name}))
        client = cls(base_url, data["api_key"], **kwargs)
        client.agent_id, client.api_key = data["agent_id"], data["api_key"]
        return client

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,  # type: ignore[override]
        params: dict[str, Any] | None = None,
    ) -> Any:
        headers = _headers(method)
        for attempt in range(self.retries + 1):
            response = None
            try:
                response = await self._http.request(method, path, json=json, params=params, headers=headers)
                if response.status_code not in RETRYABLE or attempt == self.retries:
                    return _result(response)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
            await asyncio.sleep(_delay(attempt, response, self.backoff))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMoltGridClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

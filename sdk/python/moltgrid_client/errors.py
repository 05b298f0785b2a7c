"""The one error clients raise for non-2xx answers."""

from __future__ import annotations

from typing import Any


class MoltGridError(Exception):
    """A non-2xx response; `detail` is the server's message (or FastAPI-style validation error list)."""

    def __init__(self, status: int, detail: Any, request_id: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.request_id = status, detail, request_id

    @property
    def retryable(self) -> bool:
        return self.status in (429, 502, 503, 504)

"""The one reply envelope of every `svc.*` request: {"ok": true, "data": …} or {"ok": false, "error": …}."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from shared.errors import ServiceError, error_from_code


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    data: Any = None
    code: str = ""
    message: str = ""
    details: Any = None

    def unwrap(self) -> Any:
        """Return data, or raise the ServiceError the other side raised."""
        if self.ok:
            return self.data
        raise error_from_code(self.code, self.message, self.details)


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)


def ok(data: Any) -> bytes:
    return dumps({"ok": True, "data": data})


def fail(code: str, message: str, details: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return dumps({"ok": False, "error": error})


def fail_from(exc: ServiceError) -> bytes:
    return fail(exc.code, exc.message, exc.details)


def decode(raw: bytes) -> Reply:
    body = orjson.loads(raw)
    if body.get("ok"):
        return Reply(True, body.get("data"))
    err = body.get("error") or {}
    return Reply(
        False, None, err.get("code", "internal"), err.get("message", "internal error"), err.get("details")
    )

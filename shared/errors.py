"""One error hierarchy for every service. Services raise these; only the gateway knows HTTP."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

T = TypeVar("T")


class ServiceError(Exception):
    """Internal error."""

    code: ClassVar[str] = "internal"

    def __init__(self, message: str | None = None, details: Any = None) -> None:
        super().__init__(message or (self.__doc__ or self.code).strip())
        self.message = str(self)
        self.details = details


class Invalid(ServiceError):
    """Request validation failed."""

    code = "invalid"  # 422, details = pydantic-style error list


class BadRequest(ServiceError):
    """Bad request."""

    code = "bad_request"  # 400: business-rule violations


class Unauthorized(ServiceError):
    """Invalid API key"""

    code = "unauthorized"


class Forbidden(ServiceError):
    """Forbidden."""

    code = "forbidden"


class NotFound(ServiceError):
    """Not found"""

    code = "not_found"


def found(value: T | None, message: str) -> T:
    """`value`, or NotFound(message) where the lookup found nothing (None)."""
    if value is None:
        raise NotFound(message)
    return value


class Conflict(ServiceError):
    """Conflict."""

    code = "conflict"


class TooLarge(ServiceError):
    """Request body too large."""

    code = "too_large"


class RateLimited(ServiceError):
    """Rate limit exceeded."""

    code = "rate_limited"


class QuotaExceeded(ServiceError):
    """Quota exceeded."""

    code = "quota_exceeded"  # 429: a stored-thing quota (entries, webhooks, schedules, ...); waiting alone rarely helps


class Unavailable(ServiceError):
    """Service unavailable."""

    code = "unavailable"


class Timeout(ServiceError):
    """Upstream service timed out."""

    code = "timeout"


SERVICE_ERRORS: tuple[type[ServiceError], ...] = (
    ServiceError,
    Invalid,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    TooLarge,
    RateLimited,
    QuotaExceeded,
    Unavailable,
    Timeout,
)
_BY_CODE: dict[str, type[ServiceError]] = {cls.code: cls for cls in SERVICE_ERRORS}


def error_from_code(code: str, message: str, details: Any = None) -> ServiceError:
    """Rebuild a ServiceError from an envelope's error body (used by callers of other services)."""
    return _BY_CODE.get(code, ServiceError)(message, details)

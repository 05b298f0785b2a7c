"""Gateway settings (MOLTGRID_ env prefix)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from shared.config import Settings


class GatewaySettings(Settings):
    host: str = "127.0.0.1"
    port: int = 8000
    rate_limit_per_minute: int = 120  # 0 disables the limit
    auth_cache_ttl: float = 30.0
    max_body_bytes: int = 1_048_576
    cors_origins: str = "*"  # comma-separated origins, or *
    health_cache_s: float = 2.0
    # scrypt$… (see `moltgrid admin-hash`) or the original's SHA-256 hex; ADMIN_PASSWORD_HASH works too.
    admin_password_hash: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MOLTGRID_ADMIN_PASSWORD_HASH", "ADMIN_PASSWORD_HASH")
    )

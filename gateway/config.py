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
    # Open WebSockets, event streams and long polls one agent / one client address may hold on a gateway
    # replica (0 = no cap); beyond them a new one answers 429.
    live_per_agent: int = 20
    live_per_address: int = 200
    # A connection's request headers must be complete this many seconds after it opened (or after its last
    # answer, for a kept-alive one), else it is closed: slowloris connections do not pile up.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0  # a request body must arrive within this many seconds
    metrics_cache_s: float = 2.0  # the merged /metrics scrape is reused this long
    # scrypt$… (see `moltgrid admin-hash`) or the original's SHA-256 hex; ADMIN_PASSWORD_HASH works too.
    admin_password_hash: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MOLTGRID_ADMIN_PASSWORD_HASH", "ADMIN_PASSWORD_HASH")
    )

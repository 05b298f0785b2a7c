"""The HTTP edge: auth, rate limit, and forwarding over NATS, declared as a component the shared runtime
(shared/service.py) starts and stops like every service. It answers no `svc.gateway.*` operation; its schema
holds what every replica shares (rate limits, idempotency answers, admin sessions)."""

from __future__ import annotations

from pathlib import Path

from gateway.config import GatewaySettings
from shared.service import Runtime
from shared.spec import Every, Http, Loop, Parts, Service


async def build(rt: Runtime[GatewaySettings]) -> Parts:
    from gateway.admin import sweep_sessions
    from gateway.app import create_app
    from gateway.auth import Authenticator
    from gateway.held import HELD, Held
    from gateway.idempotency import Idempotency
    from gateway.live import HUB, PushHub
    from gateway.ratelimit import RateLimiter
    from gateway.state import AUTH, IDEMPOTENCY, LIMITER, NC, POOL, USAGE
    from gateway.usage import Usage

    s, pool = rt.settings, rt.pool
    app = create_app(s)
    app[NC], app[POOL] = rt.nc, pool
    app[AUTH] = Authenticator(rt.nc, s.auth_cache_ttl, s.request_timeout)
    await app[AUTH].start()
    app[LIMITER] = RateLimiter(pool, s.rate_limit_per_minute)
    app[IDEMPOTENCY] = Idempotency(pool)
    app[HUB] = PushHub(rt.nc)
    app[HELD] = Held(s.live_per_agent, s.live_per_address)
    app[AUTH].on_revoked(app[HELD].close_agent)
    app[USAGE] = usage = Usage(rt.nc, s.request_timeout)

    async def sweep_admin_sessions() -> None:
        await sweep_sessions(pool)

    return Parts(
        groups=[],
        loops=[
            Every("usage_report", 2.0, usage.flush),
            Loop("usage_carry_over", lambda: usage.carry_over(pool)),
            Every("idempotency_sweep", 600, app[IDEMPOTENCY].sweep),
            Every("admin_session_sweep", 600, sweep_admin_sessions),
        ],
        on_stop=[usage.flush],  # after the HTTP side stopped: the last counts are reported
        # bodies are decoded by the decode_body middleware, which answers unknown encodings in JSON
        # keepalive_timeout also bounds how long a connection may take to send its request headers (aiohttp
        # closes a connection still without a whole request then): slowloris connections are closed
        http=Http(
            app,
            s.host,
            s.port,
            options={"access_log": None, "auto_decompress": False, "keepalive_timeout": s.header_timeout_s},
        ),
    )


SERVICE = Service(
    name="gateway",
    build=build,
    settings=GatewaySettings,
    migrations=Path(__file__).parent / "migrations",
)

"""Typed application state of the gateway."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from nats.aio.client import Client as NATS

from gateway.auth import Authenticator
from gateway.config import GatewaySettings
from gateway.idempotency import Idempotency
from gateway.ratelimit import RateLimiter
from gateway.usage import Usage

SETTINGS = web.AppKey("settings", GatewaySettings)
NC = web.AppKey("nc", NATS)
POOL = web.AppKey("pool", asyncpg.Pool)
AUTH = web.AppKey("auth", Authenticator)
LIMITER = web.AppKey("limiter", RateLimiter)
IDEMPOTENCY = web.AppKey("idempotency", Idempotency)
USAGE = web.AppKey("usage", Usage)

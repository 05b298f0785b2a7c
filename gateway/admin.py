"""Admin panel transport: login/logout with a session cookie shared by every gateway replica, and the
pages. The data behind the panel comes from the services' admin operations (see routes.py)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import orjson
from aiohttp import web

from gateway.http import body_bytes, error_response, json_response
from gateway.state import LIMITER, POOL, SETTINGS
from shared.errors import ServiceError
from shared.passwords import verify_password

COOKIE = "admin_token"
SESSION_HOURS = 24
LOGIN_FAILURES_PER_MINUTE = 5  # failed logins per client address (each attempt spends one before its check)
VERIFIERS = 1  # threads checking passwords (hashlib.scrypt releases the GIL; the loop keeps a core)
VERIFYING = 16  # attempts checked or waiting at once; more answer 503 at once
_VERIFIER = ThreadPoolExecutor(max_workers=VERIFIERS, thread_name_prefix="admin-login")
_queued = 0
STATIC = Path(__file__).parent / "static"
# Admin pages may not be framed (clickjacking) and load nothing from elsewhere; their scripts and styles are
# inline, hence 'unsafe-inline' for those two only.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


def behind_tls(request: web.Request) -> bool:
    """Whether the client reached us over HTTPS: directly, or through a TLS-terminating proxy that says so."""
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or proto == "https"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def session_valid(pool: asyncpg.Pool, token: str | None) -> bool:
    if not token or len(token) > 128:
        return False
    return bool(
        await pool.fetchval(
            "SELECT 1 FROM gateway.admin_sessions WHERE token_hash = $1 AND expires_at > now()",
            _digest(token),
        )
    )


async def verify_off_loop(password: str, stored: str) -> bool | None:
    """The password check (scrypt: ~0.1 s of CPU) on a small thread pool, never on the event loop that serves
    every other request; None when VERIFYING attempts are already queued (the caller answers 503)."""
    global _queued
    if _queued >= VERIFYING:
        return None
    _queued += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_VERIFIER, verify_password, password, stored)
    finally:
        _queued -= 1


async def login(request: web.Request) -> web.Response:
    """Failed attempts are throttled per client address: each attempt spends the budget BEFORE its password
    is checked (one atomic statement on the rate-limit row every replica shares), so no more than
    LOGIN_FAILURES_PER_MINUTE guesses a minute are ever verified, however many arrive at once; a right
    password gives its spending back."""
    settings, limiter = request.app[SETTINGS], request.app[LIMITER]
    throttle_key = f"admin-login:{request.remote}"
    try:
        body = orjson.loads(await body_bytes(request) or b"{}")
        password = body.get("password") if isinstance(body, dict) else None
    except orjson.JSONDecodeError:
        password = None
    if not isinstance(password, str):
        return error_response(
            "invalid",
            "password required",
            [{"type": "missing", "loc": ["body", "password"], "msg": "Field required", "input": None}],
        )
    try:
        decision = await limiter.check(throttle_key, LOGIN_FAILURES_PER_MINUTE)
    except ServiceError as exc:
        return error_response(exc.code, exc.message)
    if not decision.allowed:
        return error_response(
            "rate_limited",
            "Too many login attempts; try again later",
            headers={"Retry-After": str(decision.retry_after_s)},
        )
    stored = settings.admin_password_hash.get_secret_value() if settings.admin_password_hash else ""
    verified = await verify_off_loop(password, stored) if stored else False
    if verified is None:
        return error_response("unavailable", "Too many logins being checked; retry shortly")
    if not verified:
        return error_response(
            "unauthorized", "Invalid password" if stored else "Admin panel is not configured"
        )
    try:
        await limiter.refund(throttle_key, LOGIN_FAILURES_PER_MINUTE)
    except ServiceError:  # the login stands; the address merely keeps one attempt spent
        pass
    token = secrets.token_urlsafe(32)
    await request.app[POOL].execute(
        "INSERT INTO gateway.admin_sessions (token_hash, expires_at)"
        " VALUES ($1, now() + make_interval(hours => $2))",
        _digest(token),
        SESSION_HOURS,
    )
    response = json_response({"status": "ok", "expires_in": SESSION_HOURS * 3600})
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="Strict",
        secure=behind_tls(request),
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(COOKIE)
    if token:
        await request.app[POOL].execute(
            "DELETE FROM gateway.admin_sessions WHERE token_hash = $1", _digest(token)
        )
    response = json_response({"status": "logged_out"})
    response.del_cookie(COOKIE, path="/")
    return response


async def page(request: web.Request) -> web.StreamResponse:
    """The panel (the guard has checked the session: without one it redirects to the login page)."""
    return web.FileResponse(STATIC / "admin.html", headers=PAGE_HEADERS)


async def login_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "admin_login.html", headers=PAGE_HEADERS)


async def sweep_sessions(pool: asyncpg.Pool) -> None:
    await pool.execute("DELETE FROM gateway.admin_sessions WHERE expires_at < now()")

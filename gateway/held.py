"""Connections held open by this gateway (sockets, event streams, long polls): listed by agent so a key
rotation or deletion ends them at once, and capped per agent and per client address so no tenant holds the
gateway's (or JetStream's) capacity for everyone; and the long poll itself, which waits here on a NATS
subscription, not inside a service, so waiting clients hold no service request slot."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import nats.errors
from aiohttp import web
from nats.aio.client import Client as NATS

from gateway.http import error_response
from shared import envelope, subjects
from shared.bus import Ctx, call

Closer = Callable[[], Awaitable[None]]
MAX_WAIT_S = 30.0  # the longest `wait` the relay's events operation accepts
RETRY_S = 5  # what a refused connection is told to wait: long enough for one of its others to end


class Held:
    """The live connections this gateway holds, by agent and by client address, each with how to end it."""

    def __init__(self, per_agent: int = 0, per_address: int = 0) -> None:
        self.per_agent, self.per_address = per_agent, per_address
        self._by_agent: dict[str, set[Closer]] = defaultdict(set)
        self._by_address: dict[str, int] = defaultdict(int)

    def refusal(self, agent_id: str, address: str | None) -> web.Response | None:
        """A 429 when the agent (or its address) already holds its share of connections here, else None."""
        if self.per_agent and len(self._by_agent.get(agent_id, ())) >= self.per_agent:
            return _too_many(f"at most {self.per_agent} open streams, sockets and long polls per agent")
        if self.per_address and address and self._by_address.get(address, 0) >= self.per_address:
            return _too_many(f"at most {self.per_address} open streams, sockets and long polls per address")
        return None

    @contextlib.contextmanager
    def hold(self, agent_id: str, close: Closer, address: str | None = None) -> Iterator[None]:
        self._by_agent[agent_id].add(close)
        if address:
            self._by_address[address] += 1
        try:
            yield
        finally:
            held = self._by_agent.get(agent_id)
            if held is not None:
                held.discard(close)
                if not held:
                    del self._by_agent[agent_id]
            if address:
                self._by_address[address] -= 1
                if self._by_address[address] <= 0:
                    del self._by_address[address]

    async def close_agent(self, agent_id: str) -> int:
        """End every connection of `agent_id` (its key was rotated or the agent deleted)."""
        closers = list(self._by_agent.pop(agent_id, ()))
        await asyncio.gather(*(c() for c in closers), return_exceptions=True)
        return len(closers)


def _too_many(message: str) -> web.Response:
    return error_response(
        "rate_limited", f"Too many open connections ({message})", headers={"Retry-After": str(RETRY_S)}
    )


HELD = web.AppKey("held", Held)


def cancel_current() -> Closer:
    """A closer that ends the calling handler (a stream or a long poll)."""
    task = asyncio.current_task()

    async def close() -> None:
        if task is not None:
            task.cancel()

    return close


def wait_of(raw: Any, most: float) -> float | None:
    """A `wait` the gateway can wait out itself (a number of seconds in [0, most]); None for anything else,
    which goes to the service as sent, to be refused there in the usual 422."""
    try:
        wait = float(raw)
    except (TypeError, ValueError):
        return None
    return wait if 0 <= wait <= most else None


async def long_poll(
    nc: NATS, subject: str, body: dict[str, Any], wait: float, *, timeout: float, ctx: Ctx
) -> envelope.Reply:
    """The relay's events read without waiting; when it finds nothing, wait here for the agent's next event
    (a plain NATS subscription on its events subject, taken before the first read so nothing published in
    between is missed) and read again, until something is found or `wait` seconds have passed."""
    agent_id = ctx.require_agent()
    body = {**body, "wait": 0}
    sub = await nc.subscribe(subjects.agent_events(agent_id))
    try:
        deadline = time.monotonic() + wait
        while True:
            reply = await call(nc, subject, body, timeout=timeout, ctx=ctx)
            left = deadline - time.monotonic()
            if not reply.ok or reply.data.get("events") or left <= 0:
                return reply
            try:
                await sub.next_msg(timeout=left)
            except nats.errors.Error:  # timed out (or the connection went): one last read, then its answer
                deadline = 0
            for _ in range(100):  # a burst of events wakes one read, not one per event
                try:
                    await sub.next_msg(timeout=0.005)
                except nats.errors.Error:
                    break
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()

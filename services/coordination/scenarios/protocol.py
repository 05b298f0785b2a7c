"""What every coordination pattern shares: simulated agents as asyncio tasks with their own NATS
subscriptions on the run's private subjects (coord.<run_id>.…), message counting and latency measurement.

A pattern's `run()` performs the protocol; the runner bounds it by the scenario's timeout and then asks
`summary()` for what was measured so far — so a run cut short still reports honestly what happened."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.kv import KeyValue

from services.coordination.scenarios.models import SIZES


def now_ms() -> float:
    return time.perf_counter() * 1000.0


class Mailbox:
    """Messages one simulated agent received on one subject; wait until it holds `count` of them."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def put(self, item: dict[str, Any]) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        while len(self.items) < count:
            self._changed.clear()
            await self._changed.wait()
        return self.items


class Pattern:
    """Base of the five patterns. `criteria` are the scenario's success_criteria (some patterns also read
    their size parameters from it, e.g. total_tasks)."""

    name = ""

    def __init__(
        self, nc: NATS, kv: KeyValue, run_id: str, agent_count: int, criteria: dict[str, Any]
    ) -> None:
        self.nc, self.kv, self.run_id, self.criteria = nc, kv, run_id, criteria
        self.agents = [f"test_agent_{i}" for i in range(agent_count)]
        self.subs: list[Subscription] = []
        self.messages = 0  # messages published by the agents and the coordinator
        self.deliveries = 0  # messages received by subscribers
        self.latencies: list[float] = []  # milliseconds, what each pattern measures (see its docstring)
        self.participants: set[str] = set()  # agents that completed their part of the protocol
        self.rounds = 0
        self.started = now_ms()
        self.finished: float | None = None

    def subject(self, *parts: str) -> str:
        return ".".join(("coord", self.run_id, *parts))

    def param(self, key: str, default: int, low: int) -> int:
        """A size parameter from the criteria, within [low, its documented maximum] (models.SIZES)."""
        value = self.criteria.get(key, default)
        return max(low, min(SIZES[key], int(value))) if isinstance(value, (int, float)) else default

    async def subscribe(
        self,
        subject: str,
        on_message: Callable[[dict[str, Any], Msg], Awaitable[None] | None],
        queue: str = "",
    ) -> None:
        async def cb(msg: Msg) -> None:
            self.deliveries += 1
            out = on_message(orjson.loads(msg.data), msg)
            if out is not None:
                await out

        self.subs.append(await self.nc.subscribe(subject, queue=queue, cb=cb))

    async def publish(self, subject: str, data: dict[str, Any], reply: str = "") -> None:
        self.messages += 1
        await self.nc.publish(subject, orjson.dumps(data), reply=reply)
        if self.messages % 100 == 0:  # a buffered publish never suspends: let the service and timers run
            await asyncio.sleep(0)

    async def ready(self) -> None:
        """Make sure the server has every subscription before anyone publishes."""
        await self.nc.flush(timeout=5)

    async def close(self) -> None:
        for sub in self.subs:
            try:
                await sub.unsubscribe()
            except Exception:  # connection closing; the server drops them anyway
                pass

    async def run(self) -> None:
        raise NotImplementedError

    def outcome(self) -> tuple[dict[str, Any], list[str]]:
        """Pattern-specific result fields, and the protocol's own correctness failures (empty = correct)."""
        raise NotImplementedError

    def measures(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        end = self.finished if self.finished is not None else now_ms()
        return {
            "participants": len(self.participants),
            "messages_sent": self.messages,
            "messages_delivered": self.deliveries,
            "latency_ms": round(statistics.fmean(lat), 3) if lat else None,
            "latency_p95_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.95))], 3) if lat else None,
            "latency_max_ms": round(lat[-1], 3) if lat else None,
            "duration_ms": round(end - self.started, 3),
        }

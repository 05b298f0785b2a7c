"""Prometheus metrics. Each process keeps its own registry; every service replica answers scrapes on the
plain NATS subject `metrics.scrape`, and the gateway's GET /metrics merges them with its own."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

SCRAPE_SUBJECT = "metrics.scrape"
INSTANCE = os.environ.get("MOLTGRID_INSTANCE") or f"{socket.gethostname()}:{os.getpid()}"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REGISTRY = CollectorRegistry(auto_describe=True)
OPERATIONS = Counter(
    "moltgrid_operations",
    "NATS operations handled, by outcome (ok or an error code)",
    ["instance", "service", "op", "outcome"],
    registry=REGISTRY,
)
OPERATION_SECONDS = Histogram(
    "moltgrid_operation_seconds",
    "Time to handle one NATS operation",
    ["instance", "service", "op"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "moltgrid_http_requests",
    "HTTP requests at the gateway",
    ["instance", "route", "method", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "moltgrid_http_request_seconds",
    "HTTP request latency at the gateway",
    ["instance", "route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
PUSH_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
PUSH_SECONDS = Histogram(
    "moltgrid_push_delay_seconds",
    "A message committed by the relay → its frame written to the recipient's sockets (gateway)",
    ["instance"],
    buckets=PUSH_BUCKETS,
    registry=REGISTRY,
)


class Children:
    """`metric.labels(*values)`, memoised. prometheus_client validates the values and takes a lock on every
    labels() call, which the request path would pay twice per request; the label sets here are few (routes ×
    methods × statuses, services × ops × outcomes), so the children are kept."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Counter | Histogram) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


def gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
    """A service-specific gauge in this process's registry (e.g. queue depths); `instance` is added."""
    return Gauge(name, documentation, ["instance", *labels], registry=REGISTRY)


def counter(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
    return Counter(name, documentation, ["instance", *labels], registry=REGISTRY)


_answering: list[NATS] = []  # the connection answering scrapes for this process's registry


async def answer_scrapes(nc: NATS) -> None:
    """Reply to every scrape (no queue group: each process answers for itself). Services sharing one process
    share its registry, so only the first connection to ask answers (one copy of each sample)."""

    async def reply(msg: Msg) -> None:
        if msg.reply:
            await msg.respond(generate_latest(REGISTRY))

    if _answering and not _answering[0].is_closed:
        return
    _answering[:] = [nc]
    await nc.subscribe(SCRAPE_SUBJECT, cb=reply)


async def scrape_all(nc: NATS, wait: float = 0.3) -> list[bytes]:
    """Ask every replica of every service for its metrics; gather what arrives within `wait` seconds."""
    inbox = nc.new_inbox()
    chunks: list[bytes] = []

    async def collect(msg: Msg) -> None:
        chunks.append(msg.data)

    sub = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish(SCRAPE_SUBJECT, b"", reply=inbox)
        await asyncio.sleep(wait)
    finally:
        await sub.unsubscribe()
    return chunks


class _Merged:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def merge(texts: list[bytes]) -> bytes:
    """Merge several exposition texts into one valid exposition (one HELP/TYPE per metric family)."""
    families: dict[str, Metric] = {}
    for text in texts:
        for fam in text_string_to_metric_families(text.decode()):
            merged = families.setdefault(fam.name, Metric(fam.name, fam.documentation, fam.type, fam.unit))
            merged.samples.extend(fam.samples)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(list(families.values())))
    return generate_latest(registry)

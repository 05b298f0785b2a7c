"""Micro-batching: concurrent `embed` requests to one replica become one backend call.

A transformer pass over 32 texts costs far less than 32 passes over one, so requests that arrive together
(or while a pass is running) are coalesced: a worker takes every queued request, up to `max_texts` texts,
waiting at most `window` seconds for company when the queue holds only one, then answers each request with
its own slice of the vectors.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from services.embedder.backends import Backend, Vectors
from shared import metrics

log = structlog.get_logger("embedder")
BATCH_TEXTS = metrics.counter("moltgrid_embedder_texts", "Texts embedded by this replica")
BATCH_CALLS = metrics.counter("moltgrid_embedder_batches", "Backend calls (one per micro-batch)")


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future[Vectors] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class MicroBatcher:
    def __init__(self, backend: Backend, max_texts: int, window: float, workers: int = 1) -> None:
        self.backend = backend
        self.max_texts, self.window, self.workers = max_texts, window, workers
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"embed_batcher_{i}") for i in range(self.workers)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def embed(self, texts: list[str]) -> Vectors:
        pending = _Pending(list(texts))
        await self._queue.put(pending)
        return await pending.future

    async def _collect(self) -> list[_Pending]:
        """One batch: the first waiting request, everything queued behind it, and (only if that is all
        there is) whatever else arrives within the window, up to max_texts texts."""
        batch = [await self._queue.get()]
        count = len(batch[0].texts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window
        while count < self.max_texts:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(item)
            count += len(item.texts)
        return batch

    async def _work(self) -> None:
        while True:
            batch = await self._collect()
            live = [p for p in batch if not p.future.done()]  # a caller that gave up needs no vectors
            if not live:
                continue
            texts = [t for p in live for t in p.texts]
            try:
                vectors = await self.backend.embed(texts)
            except Exception as exc:  # every caller of this batch gets the error (a ServiceError → its code)
                log.warning("embed_failed", texts=len(texts), error=str(exc) or type(exc).__name__)
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            BATCH_CALLS.labels(metrics.INSTANCE).inc()
            BATCH_TEXTS.labels(metrics.INSTANCE).inc(len(texts))
            start = 0
            for p in live:
                if not p.future.done():
                    p.future.set_result(vectors[start : start + len(p.texts)])
                start += len(p.texts)

"""Worker processes for the text utilities, so that no text, however long or hostile, occupies the service's
event loop (in the default layout that loop serves every service of the process).

The pool is bounded: `workers` processes, and at most `waiting` more requests queued behind them; a request
beyond that answers 503 at once. Each request has a time budget (queueing included): past it the request
answers 503 and the pool is replaced, its processes killed, so a runaway computation holds no worker.

The processes start with the service (and again after a replacement) and are warmed up in the background;
no request's budget is charged for a start. They are forked from a fork server (a clean process that imported
only services.coordination.text.operations): not from the service, whose threads and sockets a fork would
copy, and not spawned, which would import the service's main module again.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import structlog

from services.coordination.text.operations import apply, watch_service
from shared.errors import Unavailable

log = structlog.get_logger("coordination.text")


def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([apply.__module__])
    return context


class TextPool:
    def __init__(self, workers: int, waiting: int, budget_s: float) -> None:
        self.workers, self.budget_s = workers, budget_s
        self._slots = asyncio.Semaphore(workers + waiting)
        self._executor: ProcessPoolExecutor | None = None
        self._warm: asyncio.Future[list[dict[str, Any]]] | None = None

    def start(self) -> None:
        """Start the worker processes and warm them up in the background."""
        executor = ProcessPoolExecutor(
            self.workers, mp_context=_context(), initializer=watch_service, initargs=(os.getpid(),)
        )
        loop = asyncio.get_running_loop()
        self._executor = executor
        self._warm = asyncio.gather(
            *(loop.run_in_executor(executor, apply, "word_count", "") for _ in range(self.workers))
        )

    async def warm_up(self, timeout: float = 60.0) -> None:
        """Wait until the workers have started (a failure is logged; the next request starts them again)."""
        try:
            await asyncio.wait_for(self._ready(), timeout)
        except (TimeoutError, Unavailable) as exc:
            log.warning("text_workers_not_started", error=repr(exc))

    async def _ready(self) -> ProcessPoolExecutor:
        """The pool, once its processes have started (the wait is not charged to the request's budget)."""
        if self._executor is None:
            self.start()
        executor, warm = self._executor, self._warm
        assert executor is not None and warm is not None
        try:
            await asyncio.shield(warm)
        except BrokenProcessPool:
            self._replace(executor)
            raise Unavailable("Text worker stopped: retry shortly") from None
        return executor

    async def run(self, operation: str, text: str) -> dict[str, Any]:
        """The operation's result; ValueError as the operation raised it; Unavailable when busy or over budget."""
        if self._slots.locked():
            raise Unavailable("Text utilities are busy: retry shortly")
        async with self._slots:
            executor = await self._ready()
            future = asyncio.get_running_loop().run_in_executor(executor, apply, operation, text)
            try:
                return await asyncio.wait_for(future, self.budget_s)
            except TimeoutError:
                log.warning("text_over_budget", operation=operation, chars=len(text), budget_s=self.budget_s)
                self._replace(executor)
                raise Unavailable(
                    f"Text operation {operation} exceeded its time budget of {self.budget_s:g} s"
                ) from None
            except BrokenProcessPool:
                self._replace(executor)
                raise Unavailable("Text worker stopped: retry shortly") from None

    def _replace(self, executor: ProcessPoolExecutor, restart: bool = True) -> None:
        """Kill the pool's processes (one may be computing past its budget) and start a fresh pool."""
        processes = list(getattr(executor, "_processes", {}).values())  # no public way to stop a running call
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        if self._executor is executor:
            self._executor = self._warm = None
            if restart:
                self.start()

    async def close(self) -> None:
        if self._executor is not None:
            self._replace(self._executor, restart=False)

"""python -m shared.runtime.host memory,queue,… — several services in one process (the small-machine layout).

Each hosted service is exactly what `python -m services.<name>` runs (its declared SERVICE): its own
settings, Postgres pool and migrations, its own NATS connection and queue group, its own background loops
and its own replica name (<service>-<index>, from MOLTGRID_INSTANCE = services-<index>). They share only the
interpreter and the event loop, which saves one interpreter's memory (~40 MB PSS) per service.

Failure isolation is the supervisor's: if any hosted service stops with an error (or returns while not
asked to stop), the host stops the others gracefully and exits 1, and the supervisor (`moltgrid up`)
restarts the whole process; the queue groups meanwhile route to any other replica.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import structlog

from shared.runtime.supervisor import SERVICES_ENV
from shared.service import dump_tasks, load_spec, run_loop, run_service
from shared.spec import Service

log = structlog.get_logger("host")


def replica_index(instance: str) -> str:
    """'services-1' → '1': the hosted services are replicas of that index (memory-1, queue-1, …)."""
    name, _, index = instance.rpartition("-")
    return index if name and index.isdigit() else "0"


async def host(specs: list[Service[Any]], index: str) -> int:
    """Run every spec until SIGINT/SIGTERM (→ 0) or until one of them fails (→ 1, the others stopped)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    tasks = {
        asyncio.create_task(run_service(s, stop=stop, instance=f"{s.name}-{index}"), name=s.name): s.name
        for s in specs
    }
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    failed = not stop.is_set()
    if failed:
        for task in done:
            error = task.exception() if not task.cancelled() else None
            log.error(
                "hosted_service_failed",
                hosted=tasks[task],
                error=repr(error) if error else "returned",
                exc_info=error,
            )
        stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    names = [
        n.strip() for n in (args[0] if args else os.environ.get(SERVICES_ENV, "")).split(",") if n.strip()
    ]
    if not names:
        sys.exit(f"usage: python -m shared.runtime.host memory,queue,…  (or set {SERVICES_ENV})")
    specs = [load_spec(name) for name in names]
    sys.exit(run_loop(host(specs, replica_index(os.environ.get("MOLTGRID_INSTANCE", "")))))


if __name__ == "__main__":
    main()
